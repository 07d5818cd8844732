"""Cost of on-device online augmentation relative to a training step, for the demo's backbone on CPU.

One ClassifierModule (resnet10t from scratch at 64 px, the demo's network; grey uint8 batches of 32), one
optimizer, on one thread. A timed step is what a training batch costs on the device: the augmentation (when
on), normalization, forward, backward and the optimizer step. Without augmentation, with `augment=light` and
with `augment=strong` alternate step by step in rotating order, so bursts of load on a shared machine hit all
three; CPU time of this process is measured (robust to other jobs) and medians are reported. The goal is an
augmentation cost of at most 10% of a step: `ratio` = median step with augmentation / median step without.

    python -m bench online_augment [--quick]
"""

from __future__ import annotations

import statistics
import time
from functools import partial

import hydra
import torch
from hydra import compose, initialize_config_dir
from hydra.core.global_hydra import GlobalHydra

from fer.models.classifier import ClassifierModule
from fer.models.components.backbone import FERNet


def _pipeline(name: str):
    from pathlib import Path

    GlobalHydra.instance().clear()
    with initialize_config_dir(version_base="1.3", config_dir=str(Path(__file__).resolve().parents[1] / "conf")):
        return hydra.utils.instantiate(compose("train.yaml", overrides=[f"augment={name}"]).augment.pipeline)


def run(quick: bool = False) -> dict:
    torch.set_num_threads(1)
    torch.manual_seed(0)
    size, bs, steps = (48, 16, 6) if quick else (64, 32, 30)
    module = ClassifierModule(FERNet("resnet10t"), optimizer=partial(torch.optim.Adam, lr=1e-3))
    opt = module.optimizer_factory(params=module.parameters())
    pipelines = {"none": None, "light": _pipeline("light"), "strong": _pipeline("strong")}
    x = torch.randint(0, 256, (bs, 1, size, size), dtype=torch.uint8)
    y = torch.randint(0, 7, (bs,))
    times: dict[str, list[float]] = {k: [] for k in pipelines}
    aug_only: dict[str, list[float]] = {k: [] for k in pipelines if pipelines[k] is not None}
    order = list(pipelines)
    for step in range(steps + 2):  # the first two rounds warm up
        for name in order[step % 3 :] + order[: step % 3]:
            t0 = time.process_time()
            xb = pipelines[name](x) if pipelines[name] is not None else x
            t1 = time.process_time()
            loss = torch.nn.functional.cross_entropy(module(xb), y)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            if step >= 2:
                times[name].append(time.process_time() - t0)
                if name in aug_only:
                    aug_only[name].append(t1 - t0)
    base = statistics.median(times["none"])
    out = {"backbone": "resnet10t", "image_size": size, "batch_size": bs, "steps": steps, "threads": 1}
    out["step_ms"] = {k: round(1000 * statistics.median(v), 2) for k, v in times.items()}
    out["augment_ms"] = {k: round(1000 * statistics.median(v), 2) for k, v in aug_only.items()}
    out["ratio"] = {k: round(statistics.median(times[k]) / base, 3) for k in aug_only}
    out["augment_share_of_step"] = {k: round(statistics.median(aug_only[k]) / base, 3) for k in aug_only}
    return out
