"""Loading a trained classifier from a train.py checkpoint and its run's saved Hydra config."""

from __future__ import annotations

import pickle
import zipfile
from pathlib import Path

import hydra
from omegaconf import OmegaConf

from fer.errors import UserError
from fer.models.classifier import ClassifierModule


class CheckpointError(UserError, FileNotFoundError):
    """A checkpoint (or its run's config) is missing or is not a readable train.py checkpoint."""


def find_run_config(checkpoint: Path, run_config: str | None, option: str = "gan_eval.run_config") -> Path:
    """The training run's `.hydra/config.yaml`: given, or beside the checkpoint (`<run>/checkpoints/x.ckpt`).
    `option` is how the caller's user names the setting (`gan_eval.run_config`, `--run-config`)."""
    if run_config:
        path = Path(run_config).expanduser()
        if not path.is_file():
            raise CheckpointError(f"{option}={path} does not exist")
        return path
    for d in (checkpoint.parent, checkpoint.parent.parent):
        if (d / ".hydra" / "config.yaml").is_file():
            return d / ".hydra" / "config.yaml"
    raise CheckpointError(
        f"no .hydra/config.yaml beside {checkpoint} (looked in {checkpoint.parent} and {checkpoint.parent.parent}); "
        f"pass {option}=<the training run's .hydra/config.yaml>, which holds the network's settings"
    )


def load_classifier(
    checkpoint: str | Path,
    run_config: str | None = None,
    options: tuple[str, str] = ("gan_eval.checkpoint", "gan_eval.run_config"),
) -> tuple[ClassifierModule, dict]:
    """A ClassifierModule from a train.py checkpoint; returns it (eval mode) and its input settings.
    `options` name the checkpoint and run-config settings as the caller's user knows them."""
    checkpoint = Path(checkpoint).expanduser()
    if not checkpoint.is_file():
        raise CheckpointError(
            f"{options[0]}={checkpoint} does not exist; pass a train.py checkpoint (<run folder>/checkpoints/*.ckpt)"
        )
    run_cfg = OmegaConf.load(find_run_config(checkpoint, run_config, options[1]))
    # The trained weights come from the checkpoint: never fetch ImageNet weights to build the network.
    net = hydra.utils.instantiate(run_cfg.model.net, pretrained=False, checkpoint_path=None)
    # Evaluation only: no optimizer (the checkpoint's hyperparameters hold plain values, so it loads safely).
    try:
        model = ClassifierModule.load_from_checkpoint(
            checkpoint, net=net, optimizer=None, map_location="cpu", weights_only=True
        )
    except (RuntimeError, OSError, ValueError, EOFError, KeyError, pickle.UnpicklingError, zipfile.BadZipFile) as e:
        # Never retried with weights_only=False: that would run whatever code a foreign file carries.
        raise CheckpointError(
            f"{options[0]}={checkpoint} is not a readable train.py checkpoint ({type(e).__name__}: "
            f"{str(e).splitlines()[0] if str(e) else 'no detail'}); it may be truncated (an interrupted copy) or "
            "another kind of file: pass a checkpoint from <run folder>/checkpoints/"
        ) from None
    model.eval()
    inputs = {
        "image_size": int(run_cfg.data.image_size),
        "color": str(run_cfg.data.color),
        "class_names": list(model.hparams.class_names),
    }
    return model, inputs
