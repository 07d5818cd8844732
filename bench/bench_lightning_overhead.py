"""Training-step throughput of ClassifierModule under the project's pl.Trainer vs a plain PyTorch loop.

Same module instance (a tiny backbone, so that per-step framework overhead is not hidden behind convolution time;
grey uint8 batches, on-device normalization and hflip), same
DataLoader, same optimizer class, on CPU. Each repeat times the steps after `warmup` steps from the start of a
batch to the end of the last step (so both sides include the same number of batch fetches); Lightning and plain
repeats alternate (ABBA) so that load changes on a shared machine hit both; medians are reported.

    python -m bench lightning_overhead [--quick]
"""

from __future__ import annotations

import statistics
import tempfile
import time
from functools import partial

import hydra
import pytorch_lightning as pl
import torch
import torch.nn.functional as F
from hydra import compose, initialize_config_dir
from hydra.core.global_hydra import GlobalHydra
from pytorch_lightning.callbacks import RichProgressBar
from pytorch_lightning.loggers import CSVLogger
from torch.utils.data import DataLoader, TensorDataset

from fer.models.classifier import ClassifierModule
from fer.models.components.backbone import FERNet


def _now() -> tuple[float, float]:
    """Wall time and this process's CPU time (all threads; the latter is robust to other jobs on the machine)."""
    return time.perf_counter(), time.process_time()


class _StepTimer(pl.Callback):
    def __init__(self, warmup: int):
        self.warmup, self.t0, self.t1, self.n = warmup, None, None, 0

    def on_train_batch_start(self, trainer, pl_module, batch, batch_idx):
        if batch_idx == self.warmup:
            self.t0 = _now()

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx):
        self.t1, self.n = _now(), batch_idx + 1 - self.warmup


def _trainer_cfg(tmp: str):
    """The project's CPU trainer config (log_every_n_steps, precision) and progress-bar redraw rate."""
    from pathlib import Path

    GlobalHydra.instance().clear()
    with initialize_config_dir(version_base="1.3", config_dir=str(Path(__file__).resolve().parents[1] / "conf")):
        cfg = compose("train.yaml", overrides=["trainer=cpu", f"paths.output_dir={tmp}", f"paths.root_dir={tmp}"])
    return cfg.trainer, int(cfg.callbacks.progress_bar.refresh_rate)


def _lightning(module, loader, steps: int, warmup: int, tmp: str, trainer_cfg, bar_refresh: int) -> tuple[float, float]:
    timer = _StepTimer(warmup)
    trainer = hydra.utils.instantiate(
        trainer_cfg,
        max_steps=steps,
        max_epochs=None,
        limit_val_batches=0,
        enable_checkpointing=False,
        # Lightning's rich bar drawn on stderr (stdout stays one JSON line per
        # bench), redrawn every `bar_refresh` steps as conf/callbacks sets it
        callbacks=[timer, RichProgressBar(refresh_rate=bar_refresh, console_kwargs={"stderr": True})],
        logger=CSVLogger(tmp, name="bench"),
    )
    trainer.fit(module, train_dataloaders=loader)
    assert timer.n == steps - warmup, timer.n
    return tuple((b - a) / timer.n for a, b in zip(timer.t0, timer.t1, strict=False))


def _plain(module, loader, steps: int, warmup: int) -> tuple[float, float]:
    module.train()
    opt = module.configure_optimizers()["optimizer"]
    p = module.hparams.hflip
    t0 = None
    for i, (x, y) in enumerate(loader):
        if i == warmup:
            t0 = _now()
        flip = torch.rand(x.shape[0]) < p  # what on_after_batch_transfer does
        x = torch.where(flip.view(-1, 1, 1, 1), x.flip(-1), x)
        loss = F.cross_entropy(module(x), y)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        if i + 1 == steps:
            break
    return tuple((b - a) / (steps - warmup) for a, b in zip(t0, _now(), strict=False))


def run(
    quick: bool = False, backbone: str = "mobilenetv3_small_050", size: int = 32, batch: int = 32, threads: int = 1
) -> dict:
    """`threads=1`: on a shared 2-core machine, two intra-op threads spin against other jobs and make step times
    swing by 10x; one thread gives stable timings for both sides."""
    steps, warmup, repeats = (15, 3, 3) if quick else (60, 10, 6)
    old_threads = torch.get_num_threads()
    torch.set_num_threads(threads)
    try:
        return _run(quick, backbone, size, batch, steps, warmup, repeats)
    finally:
        torch.set_num_threads(old_threads)


def _run(quick, backbone, size, batch, steps, warmup, repeats) -> dict:
    torch.manual_seed(0)
    g = torch.Generator().manual_seed(0)
    x = torch.randint(0, 256, (steps * batch, 1, size, size), dtype=torch.uint8, generator=g)
    loader = DataLoader(TensorDataset(x, torch.randint(0, 7, (len(x),), generator=g)), batch_size=batch, shuffle=False)
    module = ClassifierModule(FERNet(backbone), optimizer=partial(torch.optim.Adam, lr=1e-4))
    lit, plain, lit1 = [], [], []
    with tempfile.TemporaryDirectory() as tmp:
        trainer_cfg, refresh = _trainer_cfg(tmp)
        for r in range(repeats):  # ABBA order: neither side always runs first
            for side in ("lit", "lit1", "plain") if r % 2 == 0 else ("plain", "lit1", "lit"):
                if side == "lit":
                    lit.append(_lightning(module, loader, steps, warmup, tmp, trainer_cfg, refresh))
                elif side == "lit1":
                    lit1.append(_lightning(module, loader, steps, warmup, tmp, trainer_cfg, 1))
                else:
                    plain.append(_plain(module, loader, steps, warmup))
    t_lit, t_plain = statistics.median(t for t, _ in lit), statistics.median(t for t, _ in plain)
    c_lit, c_plain = statistics.median(c for _, c in lit), statistics.median(c for _, c in plain)
    return {
        "model": f"{backbone}, {batch}x1x{size}x{size} uint8, Adam, CPU threads={torch.get_num_threads()}",
        "repeats": repeats,
        "timed_steps": steps - warmup,
        "lightning_img_s": round(batch / t_lit, 1),
        "plain_img_s": round(batch / t_plain, 1),
        "lightning_step_ms": [round(1000 * t, 1) for t, _ in lit],
        "plain_step_ms": [round(1000 * t, 1) for t, _ in plain],
        "ratio": round(t_plain / t_lit, 3),  # Lightning throughput / plain-loop throughput (wall); goal >= 0.95
        "ratio_cpu_time": round(c_plain / c_lit, 3),  # the same from process CPU time: what Lightning itself costs
        # Lightning's default, the bar redrawn after every step: most of the overhead without a lower refresh rate
        "ratio_bar_every_step": round(t_plain / statistics.median(t for t, _ in lit1), 3),
    }
