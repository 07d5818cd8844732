"""Loading a trained classifier from a train.py checkpoint and its run's saved Hydra config."""

from __future__ import annotations

from pathlib import Path

import hydra
from omegaconf import OmegaConf

from fer.models.classifier import ClassifierModule


def find_run_config(checkpoint: Path, run_config: str | None) -> Path:
    """The training run's `.hydra/config.yaml`: given, or beside the checkpoint (`<run>/checkpoints/x.ckpt`)."""
    if run_config:
        path = Path(run_config).expanduser()
        if not path.is_file():
            raise FileNotFoundError(f"gan_eval.run_config={path} does not exist")
        return path
    for d in (checkpoint.parent, checkpoint.parent.parent):
        if (d / ".hydra" / "config.yaml").is_file():
            return d / ".hydra" / "config.yaml"
    raise FileNotFoundError(
        f"no .hydra/config.yaml beside {checkpoint} (looked in {checkpoint.parent} and {checkpoint.parent.parent}); "
        "pass gan_eval.run_config=<the training run's .hydra/config.yaml>, which holds the network's settings"
    )


def load_classifier(checkpoint: str | Path, run_config: str | None = None) -> tuple[ClassifierModule, dict]:
    """A ClassifierModule from a train.py checkpoint; returns it (eval mode) and its input settings."""
    checkpoint = Path(checkpoint).expanduser()
    if not checkpoint.is_file():
        raise FileNotFoundError(
            f"gan_eval.checkpoint={checkpoint} does not exist; pass a train.py checkpoint "
            "(<run folder>/checkpoints/*.ckpt)"
        )
    run_cfg = OmegaConf.load(find_run_config(checkpoint, run_config))
    # The trained weights come from the checkpoint: never fetch ImageNet weights to build the network.
    net = hydra.utils.instantiate(run_cfg.model.net, pretrained=False, checkpoint_path=None)
    # Evaluation only: no optimizer (the checkpoint's hyperparameters hold plain values, so it loads safely).
    model = ClassifierModule.load_from_checkpoint(checkpoint, net=net, optimizer=None, map_location="cpu")
    model.eval()
    inputs = {
        "image_size": int(run_cfg.data.image_size),
        "color": str(run_cfg.data.color),
        "class_names": list(model.hparams.class_names),
    }
    return model, inputs
