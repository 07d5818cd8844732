"""ClassifierModule: on-device normalization, metrics per validation and test set, confusion images, optimizer and
scheduler from config, channels_last / compile switches. Tiny backbone, random weights, tiny random data."""

from __future__ import annotations

from functools import partial

import hydra
import numpy as np
import pytest
import pytorch_lightning as pl
import torch
from PIL import Image
from timm.data import resolve_model_data_config
from torch.utils.data import DataLoader, TensorDataset

from fer.callbacks.plots import ConfusionMatrixPlot
from fer.classes import CLASSES
from fer.models.classifier import ClassifierModule
from fer.models.components.backbone import FERNet
from tests.conftest import compose_cfg


def data(n: int, seed: int, size: int = 32, channels: int = 1):
    g = torch.Generator().manual_seed(seed)
    x = torch.randint(0, 256, (n, channels, size, size), dtype=torch.uint8, generator=g)
    return TensorDataset(x, torch.randint(0, 7, (n,), generator=g))


def module(backbone="resnet10t", **kw) -> ClassifierModule:
    torch.manual_seed(0)
    return ClassifierModule(FERNet(backbone), optimizer=partial(torch.optim.Adam, lr=1e-3), **kw)


def trainer(tmp_path, **kw):
    return pl.Trainer(
        accelerator="cpu",
        logger=False,
        enable_progress_bar=False,
        enable_model_summary=False,
        enable_checkpointing=False,
        num_sanity_val_steps=0,
        default_root_dir=tmp_path,
        **kw,
    )


def test_normalization_from_timm_config_and_grey_to_three_channels():
    for name in ("resnet10t", "inception_v3"):  # imagenet mean/std vs inception's 0.5/0.5
        m = module(name) if name == "resnet10t" else ClassifierModule(FERNet(name, min_input_size=75), optimizer=None)
        cfg = resolve_model_data_config(m.net.trunk)
        x = torch.randint(0, 256, (2, 1, 8, 8), dtype=torch.uint8)
        ref = (x.float().repeat(1, 3, 1, 1) / 255 - torch.tensor(cfg["mean"]).view(1, 3, 1, 1)) / torch.tensor(
            cfg["std"]
        ).view(1, 3, 1, 1)
        assert torch.allclose(m.normalize(x), ref, atol=1e-5)
    assert cfg["mean"] == (0.5, 0.5, 0.5)  # inception_v3's own statistics, not ImageNet's


def expected_metrics(m: ClassifierModule, ds: TensorDataset) -> dict:
    m.eval()
    with torch.no_grad():
        pred = m(ds.tensors[0]).argmax(1).numpy()
    y = ds.tensors[1].numpy()
    cm = np.zeros((7, 7), dtype=int)
    np.add.at(cm, (y, pred), 1)
    recall = [cm[i, i] / cm[i].sum() if cm[i].sum() else 0.0 for i in range(7)]
    prec = [cm[i, i] / cm[:, i].sum() if cm[:, i].sum() else 0.0 for i in range(7)]
    f1 = [2 * p * r / (p + r) if p + r else 0.0 for p, r in zip(prec, recall, strict=False)]
    present = [i for i in range(7) if cm[i].sum() or cm[:, i].sum()]  # torchmetrics: absent classes ignored
    return {
        "acc": float((pred == y).mean()),
        "cm": cm,
        "recall": recall,
        "f1": float(np.mean([f1[i] for i in present])),
    }


def test_metrics_per_validation_and_each_test_set_and_confusion_images(tmp_path):
    m = module(test_names=["ckplus", "jaffe"])
    train, val, t1, t2 = data(16, 0), data(12, 1), data(10, 2), data(9, 3)
    tr = trainer(tmp_path, max_epochs=1, callbacks=[ConfusionMatrixPlot(str(tmp_path))])
    tr.fit(m, DataLoader(train, batch_size=8), DataLoader(val, batch_size=5))
    assert m.val_results["n"] == 12 and m.val_results["epoch"] == 0
    for c in CLASSES:
        assert f"val/recall/{c}" in tr.callback_metrics
    ev = expected_metrics(m, val)
    assert m.val_results["confusion"] == ev["cm"].tolist()
    assert m.val_results["acc"] == pytest.approx(ev["acc"]) and tr.callback_metrics["val/acc"] == pytest.approx(
        ev["acc"]
    )
    tr.test(m, [DataLoader(t1, batch_size=4), DataLoader(t2, batch_size=4)], verbose=False)
    assert set(m.test_results) == {"ckplus", "jaffe"}
    for name, ds in (("ckplus", t1), ("jaffe", t2)):
        r, e = m.test_results[name], expected_metrics(m, ds)
        assert r["n"] == len(ds)
        assert r["confusion"] == e["cm"].tolist()
        assert r["acc"] == pytest.approx(e["acc"]) and r["f1"] == pytest.approx(e["f1"], abs=1e-6)
        assert list(r["recall"]) == list(CLASSES)
        assert list(r["recall"].values()) == pytest.approx(e["recall"], abs=1e-6)
        assert tr.callback_metrics[f"test/{name}/acc"] == pytest.approx(e["acc"])
        img = Image.open(tmp_path / f"confusion_{name}.png")
        assert img.format == "PNG" and min(img.size) > 200
    assert Image.open(tmp_path / "confusion_val.png").format == "PNG"
    assert not list(tmp_path.glob(".*tmp*"))  # written atomically, no temp files left


@pytest.mark.parametrize(
    "sched,kind",
    [
        (None, None),
        ("cosine", torch.optim.lr_scheduler.CosineAnnealingLR),
        ("plateau", torch.optim.lr_scheduler.ReduceLROnPlateau),
    ],
)
def test_optimizer_and_scheduler_from_config(sched, kind):
    overrides = ["backbone=resnet10t", "trainer.max_epochs=7"] + ([f"model/scheduler={sched}"] if sched else [])
    cfg = compose_cfg(overrides)
    m: ClassifierModule = hydra.utils.instantiate(cfg.model)
    for p in m.net.trunk.parameters():  # what PhaseSwitch does before configure_optimizers
        p.requires_grad_(False)
    out = m.configure_optimizers()
    opt = out["optimizer"]
    assert isinstance(opt, torch.optim.Adam) and opt.param_groups[0]["lr"] == cfg.model.optimizer.lr
    assert {id(p) for p in opt.param_groups[0]["params"]} == {id(p) for p in m.net.head.parameters()}
    if kind is None:
        assert "lr_scheduler" not in out
    else:
        s = out["lr_scheduler"]
        assert isinstance(s["scheduler"], kind) and s["monitor"] == "val/loss" and s["interval"] == "epoch"
        if sched == "cosine":
            assert s["scheduler"].T_max == 7


def test_channels_last_same_logits_and_trains_a_step(tmp_path):
    a, b = module(), module(channels_last=True)
    b.net.load_state_dict(a.net.state_dict())
    a.eval(), b.eval()
    x = torch.randint(0, 256, (4, 1, 32, 32), dtype=torch.uint8)
    with torch.no_grad():
        la, lb = a(x), b(x)
    assert b.net.trunk.conv1[0].weight.is_contiguous(memory_format=torch.channels_last)
    assert torch.allclose(la, lb, atol=1e-4, rtol=1e-4)
    b.train()
    before = [p.detach().clone() for p in b.net.parameters()]
    trainer(tmp_path, max_steps=1, limit_val_batches=0).fit(b, DataLoader(data(8, 0), batch_size=8))
    assert any(not torch.equal(p, q) for p, q in zip(b.net.parameters(), before, strict=False))


def test_compile_switch_keeps_checkpoint_keys():
    plain, compiled = module(), module(compile=True)
    assert list(plain.state_dict()) == list(compiled.state_dict())
    assert not any("_orig_mod" in k for k in compiled.state_dict())


def test_hflip_only_while_training(tmp_path):
    m = module(hflip=1.0)
    x = (torch.arange(2 * 32 * 32) % 251).to(torch.uint8).view(2, 1, 32, 32)
    y = torch.zeros(2, dtype=torch.long)
    assert torch.equal(m.on_after_batch_transfer((x, y), 0)[0], x)  # no trainer: evaluation path, untouched

    class Probe(pl.Callback):
        seen = None

        def on_train_batch_start(self, trainer, pl_module, batch, batch_idx):
            Probe.seen = batch[0].clone()

    trainer(tmp_path, max_steps=1, limit_val_batches=0, callbacks=[Probe()]).fit(
        m, DataLoader(TensorDataset(x, y), batch_size=2)
    )
    assert torch.equal(Probe.seen, x.flip(-1))


def test_best_val_results_is_the_epoch_model_checkpoint_keeps():
    m = module()
    assert m.val_results == {} and m.best_val_results() == {}
    for epoch, acc in enumerate([0.2, 0.5, 0.5, 0.4]):
        m.val_history[epoch] = {"acc": acc, "f1": 1 - acc, "epoch": epoch}
    assert m.best_val_results("val/acc", "max")["epoch"] == 1  # first best: a tie does not replace it
    assert m.best_val_results("val/f1", "min")["epoch"] == 1
    assert m.val_results["epoch"] == 3
    ckpt = {}
    m.on_save_checkpoint(ckpt)
    other = module()
    other.on_load_checkpoint(ckpt)
    assert other.val_history == m.val_history


def test_progress_bar_from_config_and_no_bar(tmp_path):
    from hydra.utils import instantiate

    from fer.engine.lifecycle import build_trainer
    from tests.conftest import compose_cfg

    cfg = compose_cfg(["trainer=cpu", "logger=none", f"paths.output_dir={tmp_path}"])
    for enabled in (True, False):
        bar = instantiate(cfg.callbacks.progress_bar)
        tr = build_trainer(
            cfg.trainer,
            [bar],
            [],
            max_steps=1,
            limit_val_batches=0,
            enable_checkpointing=False,
            enable_progress_bar=enabled,
        )
        tr.fit(module(), DataLoader(data(4, 0), batch_size=4))
        if enabled:
            assert tr.progress_bar_callback is bar and bar.refresh_rate == 10
        else:
            assert tr.progress_bar_callback is None
