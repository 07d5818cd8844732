"""PhaseSwitch under a real Trainer on CPU: tiny backbone (resnet10t, random weights), tiny random uint8 data."""

from __future__ import annotations

import math
from functools import partial

import pytest
import pytorch_lightning as pl
import torch
from pytorch_lightning.callbacks import Callback, ModelCheckpoint
from torch.utils.data import DataLoader, TensorDataset

from fer.callbacks.phase_switch import BATCH_NORMS, PhaseSwitch, trunk_blocks
from fer.models.classifier import ClassifierModule
from fer.models.components.backbone import FERNet

SIZE = 32


def loaders(n: int = 16, batch: int = 8, seed: int = 0):
    g = torch.Generator().manual_seed(seed)
    x = torch.randint(0, 256, (n, 1, SIZE, SIZE), dtype=torch.uint8, generator=g)
    y = torch.arange(n) % 7
    ds = TensorDataset(x, y)
    return DataLoader(ds, batch_size=batch, shuffle=True, generator=g), DataLoader(ds, batch_size=batch)


def make_module(backbone: str = "resnet10t", scheduler=None, seed: int = 0, lr: float = 1e-2) -> ClassifierModule:
    torch.manual_seed(seed)
    return ClassifierModule(
        FERNet(backbone, pretrained=False), optimizer=partial(torch.optim.SGD, lr=lr, momentum=0.9), scheduler=scheduler
    )


def make_trainer(tmp_path, callbacks, max_epochs: int, **kw) -> pl.Trainer:
    return pl.Trainer(
        accelerator="cpu",
        max_epochs=max_epochs,
        callbacks=callbacks,
        logger=False,
        enable_progress_bar=False,
        enable_model_summary=False,
        num_sanity_val_steps=0,
        default_root_dir=tmp_path,
        enable_checkpointing=any(isinstance(c, ModelCheckpoint) for c in callbacks),
        **kw,
    )


class Recorder(Callback):
    """What the first training batch of each epoch sees: trainable names, optimizer groups, BN modes."""

    def __init__(self):
        self.epochs: dict[int, dict] = {}

    def on_train_batch_start(self, trainer, pl_module, batch, batch_idx):
        if batch_idx:
            return
        names = {id(p): n for n, p in pl_module.named_parameters()}
        opt = trainer.optimizers[0]
        self.epochs[trainer.current_epoch] = {
            "trainable": {n for n, p in pl_module.named_parameters() if p.requires_grad},
            "groups": [(g["lr"], sorted(names[id(p)] for p in g["params"])) for g in opt.param_groups],
            "bn_training": {
                n: m.training for n, m in pl_module.net.trunk.named_modules() if isinstance(m, BATCH_NORMS)
            },
        }


def expected_unfrozen(module: ClassifierModule, k: int) -> set[str]:
    blocks = trunk_blocks(module.net.trunk, module.net.unused_trunk_params)
    return {f"net.trunk.{n}" for b in blocks[len(blocks) - k :] for n in b}


def head_names(module) -> set[str]:
    return {n for n, _ in module.named_parameters() if n.startswith("net.head.")}


@pytest.mark.parametrize("head_lr", [None, 5e-3])
def test_trainable_params_and_groups_across_switch(tmp_path, head_lr):
    module, rec = make_module(), Recorder()
    train, val = loaders()
    switch = PhaseSwitch(unfreeze_at=1, k=2, lr=1e-4, head_lr=head_lr)
    make_trainer(tmp_path, [switch, rec], max_epochs=2).fit(module, train, val)
    blocks = expected_unfrozen(module, 2)
    assert blocks and all(n.startswith(("net.trunk.layer3.", "net.trunk.layer4.")) for n in blocks)
    before, after = rec.epochs[0], rec.epochs[1]
    assert before["trainable"] == head_names(module)
    assert after["trainable"] == head_names(module) | blocks
    assert len(before["groups"]) == 1 and before["groups"][0] == (1e-2, sorted(head_names(module)))
    assert len(after["groups"]) == 2
    assert after["groups"][1] == (1e-4, sorted(blocks))
    assert after["groups"][0][0] == (1e-2 if head_lr is None else head_lr)
    # BatchNorm: all frozen ones in eval mode in phase 1; in phase 2 exactly those of the unfrozen blocks train
    assert not any(before["bn_training"].values())
    training_bn = {n for n, t in after["bn_training"].items() if t}
    assert training_bn and all(n.startswith(("layer3.", "layer4.")) for n in training_bn)


def test_k_counts_only_parameters_forward_features_uses(tmp_path):
    """mobilenetv3's conv_head sits after forward_features: frozen for good, never a block, even for k=-1."""
    module = make_module("mobilenetv3_small_050")
    assert set(module.net.unused_trunk_params) == {"conv_head.weight", "conv_head.bias"}
    blocks = trunk_blocks(module.net.trunk, module.net.unused_trunk_params)
    assert all(not n.startswith("conv_head") for b in blocks for n in b)
    train, val = loaders()
    rec = Recorder()
    make_trainer(tmp_path, [PhaseSwitch(unfreeze_at=1, k=-1, lr=1e-4), rec], max_epochs=2).fit(module, train, val)
    trainable = rec.epochs[1]["trainable"]
    all_trunk = {f"net.trunk.{n}" for n, _ in module.net.trunk.named_parameters()}
    assert trainable == head_names(module) | (all_trunk - {"net.trunk.conv_head.weight", "net.trunk.conv_head.bias"})
    # k=1 is the last block that really computes features
    assert PhaseSwitch(k=1).blocks_to_unfreeze(module)[0].startswith("blocks.5.")


def test_frozen_batchnorm_statistics_do_not_move(tmp_path):
    module = make_module()
    stats = {n: b.clone() for n, b in module.net.trunk.named_buffers()}
    head = {n: p.detach().clone() for n, p in module.net.head.named_parameters()}
    train, val = loaders()
    make_trainer(tmp_path, [PhaseSwitch(unfreeze_at=5, k=2)], max_epochs=1).fit(module, train, val)  # phase 1 only
    for n, b in module.net.trunk.named_buffers():
        assert torch.equal(b, stats[n]), n
    assert any(not torch.equal(p, head[n]) for n, p in module.net.head.named_parameters())  # the head did train


def test_unfrozen_batchnorm_statistics_move_frozen_ones_do_not(tmp_path):
    module = make_module()
    stats = {n: b.clone() for n, b in module.net.trunk.named_buffers() if n.endswith("running_mean")}
    train, val = loaders()
    make_trainer(tmp_path, [PhaseSwitch(unfreeze_at=0, k=1)], max_epochs=1).fit(module, train, val)
    moved = {n for n, b in module.net.trunk.named_buffers() if n in stats and not torch.equal(b, stats[n])}
    assert moved and all(n.startswith("layer4.") for n in moved)
    assert {n for n in stats if n.startswith("layer4.")} == moved


def _fit_with_checkpoints(tmp_path, max_epochs: int, unfreeze_at: int):
    module, rec = make_module(), Recorder()
    train, val = loaders()
    ckpt = ModelCheckpoint(
        dirpath=tmp_path / "ckpt", filename="e{epoch}", save_top_k=-1, every_n_epochs=1, auto_insert_metric_name=False
    )
    switch = PhaseSwitch(unfreeze_at=unfreeze_at, k=2, lr=1e-4, head_lr=5e-3)
    make_trainer(tmp_path, [switch, rec, ckpt], max_epochs=max_epochs).fit(module, train, val)
    return module, rec


def _resume(tmp_path, ckpt_name: str, max_epochs: int, unfreeze_at: int):
    module, rec = make_module(seed=1), Recorder()  # different init: everything must come from the checkpoint
    train, val = loaders()
    switch = PhaseSwitch(unfreeze_at=unfreeze_at, k=2, lr=1e-4, head_lr=5e-3)
    trainer = make_trainer(tmp_path / "resumed", [switch, rec], max_epochs=max_epochs)
    trainer.fit(module, train, val, ckpt_path=str(tmp_path / "ckpt" / ckpt_name))
    return module, rec, trainer


def test_resume_after_switch_keeps_blocks_trainable_and_groups(tmp_path):
    first, rec1 = _fit_with_checkpoints(tmp_path, max_epochs=3, unfreeze_at=1)
    # checkpoint after epoch 1 (the switch epoch); the uninterrupted run's epoch 2 is the reference
    module, rec2, trainer = _resume(tmp_path, "e1.ckpt", max_epochs=3, unfreeze_at=1)
    assert list(rec2.epochs) == [2]
    ref, got = rec1.epochs[2], rec2.epochs[2]
    assert got["groups"] == ref["groups"]  # same number of groups, same lrs, same parameters (by name)
    assert got["trainable"] == ref["trainable"] == head_names(module) | expected_unfrozen(module, 2)
    assert got["bn_training"] == ref["bn_training"]
    opt = trainer.optimizers[0]
    in_opt = [id(p) for g in opt.param_groups for p in g["params"]]
    assert len(in_opt) == len(set(in_opt)) == len(ref["groups"][0][1]) + len(ref["groups"][1][1])
    assert set(in_opt) <= {id(p) for p in module.parameters()}  # the new module's tensors, not stale ones
    # the unfrozen blocks really trained on after resuming (momentum state restored and stepping)
    assert all(opt.state[p] for p in opt.param_groups[1]["params"])


def test_resume_before_switch_switches(tmp_path):
    _fit_with_checkpoints(tmp_path, max_epochs=1, unfreeze_at=1)
    module, rec, trainer = _resume(tmp_path, "e0.ckpt", max_epochs=2, unfreeze_at=1)
    got = rec.epochs[1]
    assert len(got["groups"]) == 2 and got["groups"][0][0] == 5e-3 and got["groups"][1][0] == 1e-4
    assert got["trainable"] == head_names(module) | expected_unfrozen(module, 2)
    assert got["groups"][1][1] == sorted(expected_unfrozen(module, 2))


@pytest.mark.parametrize("kind", ["cosine", "plateau"])
def test_schedulers_follow_the_added_group(tmp_path, kind):
    sched = (
        partial(torch.optim.lr_scheduler.CosineAnnealingLR, T_max=8)
        if kind == "cosine"
        else partial(torch.optim.lr_scheduler.ReduceLROnPlateau, patience=0, factor=0.5, min_lr=1e-7)
    )
    module = make_module(scheduler=sched)
    train, val = loaders()
    trainer = make_trainer(tmp_path, [PhaseSwitch(unfreeze_at=1, k=2, lr=1e-4)], max_epochs=4)
    trainer.fit(module, train, val)
    s = trainer.lr_scheduler_configs[0].scheduler
    n = len(trainer.optimizers[0].param_groups)
    assert n == 2
    assert len(s.base_lrs if kind == "cosine" else s.min_lrs) == n
    if kind == "cosine":  # added at epoch 1 with lr 1e-4, then follows the cosine through epochs 2..4
        expected = 1e-4 * (1 + math.cos(math.pi * 4 / 8)) / (1 + math.cos(math.pi / 8))
        assert trainer.optimizers[0].param_groups[1]["lr"] == pytest.approx(expected, rel=1e-6)
