"""Every training option meets the deploy path: one epoch at a tiny size for each recipe x online augmentation x
EMA on/off, then prediction, export (with ONNX parity) and the classifier loading GAN evaluation uses.

A training-only module that leaves state in the checkpoint (kornia's buffers of `augment=light|strong` did) makes
the network built for inference refuse the weights; this matrix is where that fails, not a user's first
`fer.predict`. The default suite runs the two cases with an augmentation module (the modern recipe as shipped:
light + EMA; the paper recipe with strong, no EMA); the rest of the matrix is `slow` (flip and none add no module,
and the paper recipe's flip is what the other deploy tests train).
"""

from __future__ import annotations

import json
from pathlib import Path

import cv2
import numpy as np
import pytest
import torch
from omegaconf import open_dict

from fer.deploy.checkpoint import load_classifier
from fer.deploy.export import main as export_main
from fer.deploy.predict import main as predict_main
from fer.deploy.predictors import OnnxPredictor, TorchPredictor
from tests.conftest import shrunk_demo_cfg

RECIPES, AUGMENTS, EMA = ("paper", "modern"), ("none", "flip", "light", "strong"), ("ema", "no_ema")
FAST = {("modern", "light", "ema"), ("paper", "strong", "no_ema")}  # each recipe, kornia pipeline and EMA setting
CASES = [
    pytest.param(r, a, e, marks=() if (r, a, e) in FAST else pytest.mark.slow, id=f"{r}-{a}-{e}")
    for r in RECIPES
    for a in AUGMENTS
    for e in EMA
]


@pytest.fixture(scope="module")
def trained(tmp_path_factory, synthetic_dir):
    """`trained(*overrides)`: the checkpoint validation chose after one epoch of two batches, no test sets; one
    face cache for the module, each configuration trained once."""
    from train import train

    cache, done = tmp_path_factory.mktemp("matrix_cache"), {}

    def run(*overrides: str) -> Path:
        if overrides not in done:
            cfg = shrunk_demo_cfg(tmp_path_factory.mktemp("run"), synthetic_dir, *overrides)
            with open_dict(cfg):
                cfg.paths.cache_dir = str(cache)
                cfg.trainer.max_epochs = 1
                cfg.test = False
            done[overrides] = Path(train(cfg)["best_checkpoint"])
        return done[overrides]

    return run


def ema_override(recipe: str, ema: str) -> list[str]:
    if ema == "no_ema":
        return ["callbacks.ema=null"]
    return [] if recipe == "modern" else ["+callbacks.ema._target_=fer.callbacks.ema.EMA", "+callbacks.ema.decay=0.9"]


def images(synthetic_dir: Path, n: int = 3) -> list[Path]:
    return sorted((synthetic_dir / "jaffe").rglob("*.tiff"))[:n]


@pytest.mark.parametrize(("recipe", "augment", "ema"), CASES)
def test_each_training_option_predicts_exports_and_loads_for_gan_evaluation(
    recipe, augment, ema, trained, tmp_path, synthetic_dir, capsys
):
    ckpt = trained(f"recipe={recipe}", f"augment={augment}", *ema_override(recipe, ema))
    state = torch.load(ckpt, map_location="cpu", weights_only=True)["state_dict"]
    assert not [k for k in state if k.startswith("augment.")]  # training-only: no state in the checkpoint

    faces = images(synthetic_dir)
    capsys.readouterr()  # the run's table
    assert predict_main(["--checkpoint", str(ckpt), *map(str, faces)]) == 0
    rows = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert [r["file"] for r in rows] == list(map(str, faces)) and all(len(r["probs"]) == 7 for r in rows)
    assert all(r["face_found"] is None for r in rows)  # the demo's fixed crop: no detector ran, nothing claimed

    onnx = tmp_path / "model.onnx"
    assert export_main(["--checkpoint", str(ckpt), "--format", "onnx", "--out", str(onnx)]) == 0
    torch_p, onnx_p = TorchPredictor(ckpt), OnnxPredictor(onnx)
    crops = torch_p.pipeline.batch([torch_p.pipeline.all_faces(torch_p.pipeline.load(p))[0].crop for p in faces])
    np.testing.assert_allclose(onnx_p.probabilities(crops), torch_p.probabilities(crops), atol=1e-4, rtol=0)

    model, pipeline = load_classifier(ckpt)  # GAN evaluation's loader
    assert model.augment is None and pipeline == torch_p.pipeline


def test_a_checkpoint_written_with_augmentation_buffers_still_loads(trained, tmp_path):
    """Checkpoints from before the augmentation kept no state hold its kornia buffers: prediction and resuming
    drop them instead of refusing the weights."""
    ckpt = trained("recipe=paper", "augment=strong", "callbacks.ema=null")
    old = torch.load(ckpt, map_location="cpu", weights_only=True)
    for key in ("augment.transforms.gamma._param_generator.gamma_factor", "augment.transforms.gamma.gain_factor"):
        old["state_dict"][key] = torch.tensor([1.0, 1.0])
    legacy = tmp_path / "legacy.ckpt"
    torch.save(old, legacy)
    model, _ = load_classifier(legacy)
    expected, _ = load_classifier(ckpt)
    x = torch.randint(0, 255, (2, 1, 32, 32), dtype=torch.uint8)
    torch.testing.assert_close(model.probabilities(x), expected.probabilities(x))


def test_gan_evaluation_scores_samples_with_a_modern_recipe_classifier(trained, tmp_path, synthetic_dir):
    from fer.tasks import gan_eval
    from tests.conftest import compose_cfg, synthetic_overrides

    ckpt = trained("recipe=modern", "augment=light")
    samples = tmp_path / "samples" / "happy"  # stand-ins for GAN samples: real happy faces of the KDEF-style tree
    samples.mkdir(parents=True)
    for i, src in enumerate(sorted((synthetic_dir / "kdef").rglob("*HAS.JPG"))[:4]):
        cv2.imwrite(str(samples / f"happy_{i:04d}.png"), cv2.imread(str(src)))
    cfg = compose_cfg(
        [
            "task=gan_eval",
            "sources=synthetic",
            "logger=none",
            *synthetic_overrides(synthetic_dir),
            f"paths.root_dir={tmp_path}",
            f"paths.cache_dir={tmp_path / 'cache'}",
            f"gan_eval.checkpoint={ckpt}",
            f"gan_eval.samples_dir={samples.parent}",
            f"out_dir={tmp_path / 'eval'}",
        ],
        config_name="generate.yaml",
    )
    result = gan_eval.run(cfg)
    report = json.loads((tmp_path / "eval" / "gan_eval.json").read_text())
    assert report["classes"]["happy"]["samples"] == 4 and result["overall"]["samples"] == 4
