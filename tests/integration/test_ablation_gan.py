"""`experiment=ablation_gan`: KDEF alone vs KDEF plus each generator's samples, same split, several seeds, read with
`fer.report --compare`. A shrunken copy end to end: two tiny GAN kinds on the synthetic faces, then the sweep."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from omegaconf import OmegaConf, open_dict

from tests.conftest import ROOT, compose_cfg, synthetic_overrides

TINY_GAN = [
    "model.generator.features=8",
    "model.discriminator.features=8",
    "model.grid_size=7",
    "gan.batch_size=16",
    "gan.max_epochs=1",
    "gan.samples_per_class=6",
    "image_size=32",
    "+trainer.enable_progress_bar=false",
]


def test_ablation_gan_composes_one_setting_per_generator():
    trains = {}
    for generator in ("none", "dcgan", "conditional"):
        cfg = compose_cfg(["experiment=ablation_gan", f"ablation.generator={generator}"])
        trains[generator] = (OmegaConf.to_container(cfg.data.train, resolve=True), cfg.sources.gan_q.root)
        assert cfg.split_seed == 0 and cfg.protocol.name == "cross_db"
    gan_q = compose_cfg([]).paths.gan_q
    assert trains == {
        "none": (["kdef"], gan_q),
        "dcgan": (["kdef", "gan_q"], gan_q),
        "conditional": (["kdef", "gan_q"], f"{gan_q}_conditional"),
    }
    params = compose_cfg(["experiment=ablation_gan"]).hydra.sweeper.params
    assert params["ablation.generator"] == "none,dcgan,conditional" and len(str(params.seed).split(",")) >= 3


def generate(tmp_path: Path, synthetic_dir: Path, out: Path, *extra: str) -> None:
    from fer.tasks import gan as task

    cfg = compose_cfg(
        [
            "task=gan",
            "emotion=[happy,sad]",  # two emotions keep it small; the conditional GAN still trains on all seven
            "sources=synthetic",
            *synthetic_overrides(synthetic_dir),
            "logger=none",
            f"paths.root_dir={tmp_path}",
            f"paths.cache_dir={tmp_path / 'cache'}",
            f"out_dir={out}",
            *extra,
            *TINY_GAN,
        ],
        config_name="generate.yaml",
    )
    with open_dict(cfg):
        cfg.paths.output_dir = cfg.hydra.runtime.output_dir = str(tmp_path / "gan_run")
    task.run(cfg)


def test_shrunken_ablation_runs_end_to_end(tmp_path, synthetic_dir):
    gan_q = tmp_path / "gan_q"
    generate(tmp_path, synthetic_dir, gan_q)
    generate(tmp_path, synthetic_dir, Path(f"{gan_q}_conditional"), "model=gan_conditional")
    generators = {
        json.loads((Path(f"{gan_q}{s}") / "manifest.json").read_text())["classes"]["happy"]["generator"]
        for s in ("", "_conditional")
    }
    assert generators == {"per_emotion", "conditional"}

    sweep = tmp_path / "sweep"
    env = {**os.environ, "FER_ROOT": str(tmp_path), "WANDB_MODE": "offline", "PYTHONWARNINGS": "ignore"}
    cmd = [
        sys.executable,
        str(ROOT / "train.py"),
        "experiment=ablation_gan",
        "hydra.sweeper.params.seed='1,2'",
        f"hydra.sweep.dir={sweep}",
        "sources=synthetic",
        *synthetic_overrides(synthetic_dir),
        f"paths.cache_dir={tmp_path / 'cache'}",
        f"paths.gan_q={gan_q}",
        "trainer=cpu",
        "logger=none",
        "backbone=resnet10t",
        "backbone.pretrained=false",
        "backbone.input_size=32",
        "trainer.max_epochs=1",
        "+trainer.limit_train_batches=1",
        "+trainer.limit_val_batches=1",
        "+trainer.enable_progress_bar=false",
        "protocol.tests=[ckplus]",
    ]
    proc = subprocess.run(cmd, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=900)
    assert proc.returncode == 0, (proc.stdout + proc.stderr)[-3000:]
    results = [json.loads(p.read_text()) for p in sweep.rglob("results.json")]
    assert len(results) == 3 * 2
    runs = {}
    for r in results:
        generator = next(o.split("=")[1] for o in r["overrides"] if o.startswith("ablation.generator="))
        runs.setdefault(generator, []).append(r["split"])
    # One subject split for every run (seeds vary the training only); each generator adds its 6 samples of each
    # of the two emotions to the same real training faces, and validation holds real faces only.
    assert sorted(runs) == ["conditional", "dcgan", "none"] and all(len(v) == 2 for v in runs.values())
    assert all(len({s["digest"] for s in v}) == 1 for v in runs.values())
    assert len({s["images"]["val"] for v in runs.values() for s in v}) == 1
    train = {g: v[0]["images"]["train"] for g, v in runs.items()}
    assert train["dcgan"] - train["none"] == train["conditional"] - train["none"] == 6 * 2

    out = subprocess.run(
        [sys.executable, "-m", "fer.report", str(sweep), "--compare", "ablation.generator=none,conditional"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert out.returncode == 0, out.stderr[-3000:]
    assert "2 paired runs" in out.stdout and "ablation.generator=conditional" in out.stdout  # two seeds, paired
