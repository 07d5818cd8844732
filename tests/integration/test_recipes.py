"""Training recipes: on-device online augmentation, regularisation switches, EMA, flip TTA, `recipe=paper|modern`.

Tiny backbone, random weights, tiny random data; one end-to-end run of the modern recipe through train(cfg)."""

from __future__ import annotations

import json
from functools import partial

import hydra
import pytorch_lightning as pl
import torch
import torch.nn.functional as F
from omegaconf import OmegaConf
from torch.utils.data import DataLoader, TensorDataset

from fer.callbacks.ema import EMA
from fer.models.classifier import ClassifierModule, balanced_class_weights
from fer.models.components.backbone import FERNet
from fer.models.components.online_aug import OnlineAugment
from fer.models.schedulers import WarmupCosine
from tests.conftest import compose_cfg


def augment(name: str) -> OnlineAugment:
    return hydra.utils.instantiate(compose_cfg([f"augment={name}"]).augment.pipeline)


def batch(n: int = 8, channels: int = 1, size: int = 32, seed: int = 0) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    return torch.randint(0, 256, (n, channels, size, size), dtype=torch.uint8, generator=g)


def module(**kw) -> ClassifierModule:
    torch.manual_seed(0)
    return ClassifierModule(FERNet("resnet10t"), optimizer=partial(torch.optim.Adam, lr=1e-3), **kw)


def quiet_trainer(tmp_path, **kw) -> pl.Trainer:
    defaults = {"accelerator": "cpu", "logger": False, "enable_progress_bar": False, "enable_model_summary": False}
    return pl.Trainer(default_root_dir=tmp_path, num_sanity_val_steps=0, **{**defaults, **kw})


# ------------------------------------------------------------------------------------------ online augmentation
def test_online_augment_is_per_image_deterministic_under_a_seed_and_keeps_the_scale():
    aug, x = augment("strong"), batch()
    torch.manual_seed(5)
    a = aug(x)
    torch.manual_seed(5)
    b = aug(x)
    torch.manual_seed(6)
    c = aug(x)
    assert torch.equal(a, b) and not torch.equal(a, c)
    assert a.shape == x.shape and a.dtype == torch.float32 and a.min() >= 0 and a.max() <= 255
    # per-image parameters: with identical images in the batch, the outputs still differ
    same = x[:1].expand(8, -1, -1, -1)
    out = aug(same)
    assert any(not torch.equal(out[0], out[i]) for i in range(1, 8))
    assert augment("strong")(batch(channels=3)).shape == (8, 3, 32, 32)  # RGB as well as grey


def test_a_null_transform_is_switched_off():
    cfg = compose_cfg(["augment=light", "augment.pipeline.transforms.erasing=null"])
    aug = hydra.utils.instantiate(cfg.augment.pipeline)
    assert "erasing" not in aug.transforms and "affine" in aug.transforms
    assert torch.equal(OnlineAugment({})(batch()), batch())  # nothing configured: the batch as it came


def test_augmentation_runs_on_training_batches_only(tmp_path):
    m = module(hflip=0.0, augment=augment("strong"))
    x, y = batch(4), torch.zeros(4, dtype=torch.long)
    assert torch.equal(m.on_after_batch_transfer((x, y), 0)[0], x)  # evaluation path (no trainer): untouched

    class Probe(pl.Callback):
        seen: dict = {}

        def on_train_batch_start(self, trainer, pl_module, b, batch_idx):
            Probe.seen["train"] = b[0].clone()

        def on_validation_batch_start(self, trainer, pl_module, b, batch_idx, dataloader_idx=0):
            Probe.seen["val"] = b[0].clone()

    loader = DataLoader(TensorDataset(x, y), batch_size=4)
    quiet_trainer(tmp_path, max_steps=1, enable_checkpointing=False, callbacks=[Probe()]).fit(m, loader, loader)
    assert not torch.equal(Probe.seen["train"], x.float())
    assert torch.equal(Probe.seen["val"], x)


# ------------------------------------------------------------------------------------------ the paper recipe
def test_paper_recipe_is_the_default_configuration():
    default, paper = compose_cfg([]), compose_cfg(["recipe=paper"])
    for key in ("model", "augment", "callbacks", "trainer", "data"):
        assert OmegaConf.to_container(default[key]) == OmegaConf.to_container(paper[key]), key
    assert paper.model.optimizer._target_ == "torch.optim.Adam" and paper.model.scheduler is None
    assert paper.augment == {"hflip": 0.5, "pipeline": None} and paper.callbacks.ema is None
    assert paper.model.label_smoothing == 0 and paper.model.mixup is None and not paper.model.tta_flip


def test_paper_training_step_is_plain_cross_entropy():
    """With the paper's switches the loss is exactly cross-entropy of the normalized batch (bit for bit)."""
    m = module()
    x, y = batch(6), torch.tensor([0, 1, 2, 3, 4, 5])
    torch.manual_seed(1)
    loss = m.training_step((x, y), 0)
    torch.manual_seed(1)
    assert torch.equal(loss, F.cross_entropy(m.net(m.normalize(x)), y))


# ------------------------------------------------------------------------------------------ regularisation
def test_balanced_class_weights_upweight_rare_classes():
    w = balanced_class_weights([0, 0, 0, 1, 2, 2], 4)
    assert torch.allclose(w, torch.tensor([6 / 9, 2.0, 1.0, 0.0]))  # n / (k * n_c); absent class 3: 0


def test_label_smoothing_and_mixup_change_the_loss_and_odd_batches_fall_back():
    x, y = batch(6), torch.tensor([0, 1, 2, 3, 4, 5])
    torch.manual_seed(1)
    plain = module().training_step((x, y), 0)
    torch.manual_seed(1)
    smooth = module(label_smoothing=0.2).training_step((x, y), 0)
    assert not torch.isclose(plain, smooth)
    mixed = module(mixup={"mixup_alpha": 0.4, "cutmix_alpha": 1.0, "prob": 1.0, "switch_prob": 0.5})
    assert torch.isfinite(mixed.training_step((x, y), 0))
    assert torch.isfinite(mixed.training_step((x[:5], y[:5]), 0))  # odd batch: plain labels, no error


def test_tta_flip_averages_the_image_and_its_mirror():
    m = module(tta_flip=True, test_names=["t"]).eval()
    x, y = batch(4), torch.tensor([0, 1, 2, 3])
    with torch.no_grad():
        m.test_step((x, y), 0)
        expected = (m(x).softmax(-1) + m(x.flip(-1)).softmax(-1)) / 2
    ref = module(test_names=["t"]).test_metrics[0]
    ref.update(expected, y)
    got = m.test_metrics[0].compute()
    assert torch.equal(got["cm"], ref.compute()["cm"])


# ------------------------------------------------------------------------------------------ schedule, EMA
def test_warmup_cosine_shape_and_a_group_added_later_follows_it():
    p = [torch.nn.Parameter(torch.zeros(1))]
    opt = torch.optim.SGD(p, lr=1.0)
    s = WarmupCosine(opt, max_epochs=6, warmup_epochs=2, warmup_start=0.1, eta_min=0.0)
    lrs, ratios = [], []
    for epoch in range(6):
        lrs.append(opt.param_groups[0]["lr"])
        if epoch > 2:
            ratios.append(opt.param_groups[1]["lr"] / opt.param_groups[0]["lr"])
        if epoch == 2:  # what the phase switch does: a new group, and base_lrs extended with its own rate
            opt.add_param_group({"params": [torch.nn.Parameter(torch.zeros(1))], "lr": 0.5, "initial_lr": 0.5})
            s.base_lrs.append(0.5)
        opt.step()
        s.step()
    assert lrs[0] == 0.1 and abs(lrs[1] - 0.55) < 1e-9 and lrs[2] == 1.0
    assert lrs[2] > lrs[3] > lrs[4] > lrs[5] > 0
    assert all(abs(r - 0.5) < 1e-9 for r in ratios) and len(ratios) == 3


def test_ema_weights_are_validated_checkpointed_and_tested(tmp_path):
    m = module(test_names=["t"])
    x, y = batch(16), torch.randint(0, 7, (16,), generator=torch.Generator().manual_seed(0))
    loader = DataLoader(TensorDataset(x, y), batch_size=8)
    ema = EMA(decay=0.9)
    ckpt = pl.callbacks.ModelCheckpoint(dirpath=tmp_path / "ckpt", monitor="val/acc", mode="max")
    tr = quiet_trainer(tmp_path, max_epochs=2, callbacks=[ema, ckpt])
    tr.fit(m, loader, loader)
    saved = torch.load(ckpt.best_model_path, weights_only=True)
    live = saved["current_model_state"]
    averaged = saved["state_dict"]
    key = "net.head.3.weight" if "net.head.3.weight" in averaged else next(k for k in averaged if "weight" in k)
    assert not torch.equal(live[key], averaged[key])  # the checkpoint keeps both, the average as its weights
    tr.test(m, loader, ckpt_path=ckpt.best_model_path, verbose=False)
    assert torch.equal(m.state_dict()[key], averaged[key])  # the test sets score the average


# ------------------------------------------------------------------------------------------ end to end
def test_modern_recipe_trains_and_tests_end_to_end(tmp_path, synthetic_dir):
    from tests.conftest import shrunk_demo_cfg
    from train import train

    cfg = shrunk_demo_cfg(tmp_path, synthetic_dir, "recipe=modern")
    assert cfg.callbacks.ema is not None and cfg.augment.pipeline is not None and cfg.model.tta_flip
    results = train(cfg)
    saved = json.loads((tmp_path / "run" / "results.json").read_text())
    assert saved["tests"].keys() == {"ckplus", "jaffe"} == results["tests"].keys()
    for r in saved["tests"].values():
        assert 0.0 <= r["acc"] <= 1.0 and r["n"] > 0
