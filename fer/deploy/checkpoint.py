"""Loading a trained classifier from a train.py checkpoint (self-describing; older ones with their run's config)."""

from __future__ import annotations

import pickle
import warnings
import zipfile
from pathlib import Path

import hydra
import torch
from omegaconf import OmegaConf

from fer.errors import UserError
from fer.faces.pipeline import FacePipeline
from fer.models.classifier import ClassifierModule
from fer.runs.description import training_pipeline


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


def read_checkpoint(checkpoint: Path, option: str) -> dict:
    """The checkpoint's contents, through torch's safe weights-only unpickler."""
    if checkpoint.is_dir():
        found = sorted(checkpoint.glob("*.ckpt")) or sorted(checkpoint.glob("checkpoints/*.ckpt"))
        hint = f"; e.g. {option}={found[0]}" if found else " (it holds no .ckpt file, nor does its checkpoints/)"
        raise CheckpointError(f"{option}={checkpoint} is a folder: pass a checkpoint file{hint}")
    if not checkpoint.is_file():
        raise CheckpointError(
            f"{option}={checkpoint} does not exist; pass a train.py checkpoint (<run folder>/checkpoints/*.ckpt)"
        )
    try:
        with warnings.catch_warnings():  # torch's notes on a foreign file's pickle protocol: the error says it all
            warnings.simplefilter("ignore")
            ckpt = torch.load(checkpoint, map_location="cpu", weights_only=True)
    except Exception as e:  # torch's unpickler raises anything (IndexError, UnpicklingError, ...) on a foreign file
        # Never retried with weights_only=False, and torch's advice to do so is never passed on: that would run
        # whatever code a foreign file carries.
        raise CheckpointError(
            f"{option}={checkpoint} is not a readable train.py checkpoint ({_why_unreadable(e)}); it may be "
            "truncated (an interrupted copy) or another kind of file: pass a checkpoint from <run folder>/checkpoints/"
        ) from None
    if not isinstance(ckpt, dict) or "state_dict" not in ckpt:
        raise CheckpointError(
            f"{option}={checkpoint} is not a readable train.py checkpoint (a torch file without a state_dict); "
            "pass a checkpoint from <run folder>/checkpoints/"
        )
    return ckpt


def _why_unreadable(e: Exception) -> str:
    """torch's reason in a few words; its weights-only refusal is named without its advice to load unsafely."""
    if isinstance(e, pickle.UnpicklingError) or "weights_only" in str(e) or "Weights only" in str(e):
        return "torch's safe loader refused its contents: not only tensors and plain values"
    if isinstance(e, zipfile.BadZipFile):
        return f"not a torch zip archive: {e}"
    first = str(e).splitlines()[0] if str(e) else ""
    return f"{type(e).__name__}: {first}" if first else f"{type(e).__name__}, unreadable contents"


def load_classifier(
    checkpoint: str | Path,
    run_config: str | None = None,
    options: tuple[str, str] = ("gan_eval.checkpoint", "gan_eval.run_config"),
) -> tuple[ClassifierModule, FacePipeline]:
    """A ClassifierModule (evaluation mode, CPU) from a train.py checkpoint, and the face pipeline it was trained
    with. The checkpoint describes itself (`inference`); a checkpoint written before it did needs its run's
    `.hydra/config.yaml` (beside it, or `run_config`). `options` name the two settings as the caller's user knows
    them."""
    checkpoint = Path(checkpoint).expanduser()
    ckpt = read_checkpoint(checkpoint, options[0])
    hparams = dict(ckpt.get("hyper_parameters") or {})
    inference = hparams.get("inference")
    run_cfg = None
    if inference:
        net_cfg = inference["net"]
    else:
        run_cfg = OmegaConf.load(find_run_config(checkpoint, run_config, options[1]))
        net_cfg = run_cfg.model.net
    # The trained weights come from the checkpoint: never fetch ImageNet weights to build the network.
    net = hydra.utils.instantiate(net_cfg, pretrained=False, checkpoint_path=None)
    # Evaluation only: no optimizer; compiling would only slow a single use down.
    model = ClassifierModule(net=net, optimizer=None, **{**hparams, "compile": False})
    model.on_load_checkpoint(ckpt)
    try:
        model.load_state_dict(ckpt["state_dict"])
    except RuntimeError as e:
        raise CheckpointError(
            f"{options[0]}={checkpoint}: its weights do not fit the network it describes ({str(e).splitlines()[0]})"
        ) from None
    model.eval()
    if inference:
        pipeline = FacePipeline.from_dict(inference["pipeline"])
    else:
        pipeline = training_pipeline(run_cfg, *model.input_stats())
    return model, pipeline
