"""Training recipes: on-device online augmentation, regularisation switches, EMA, flip TTA, `recipe=paper|modern`.

Tiny backbone, random weights, tiny random data; end-to-end runs through train(cfg): the modern recipe, and the
rare-class switches (class weights, logit adjustment fitted on validation) on an imbalanced FER2013-form tree."""

from __future__ import annotations

import json
from functools import partial
from pathlib import Path
from types import SimpleNamespace

import hydra
import numpy as np
import pytest
import pytorch_lightning as pl
import torch
import torch.nn.functional as F
from omegaconf import DictConfig, OmegaConf, open_dict
from torch.utils.data import DataLoader, TensorDataset

from fer.callbacks.ema import EMA
from fer.classes import CLASSES
from fer.engine.posthoc import fit_logit_adjustment
from fer.models import balancing
from fer.models.balancing import SCHEMES, class_prior, class_weights, fit_tau
from fer.models.classifier import ClassifierModule
from fer.models.components.backbone import FERNet
from fer.models.components.online_aug import OnlineAugment
from fer.models.schedulers import WarmupCosine
from tests.conftest import compose_cfg
from tests.helpers.data_trees import face, write


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


# ------------------------------------------------------------------------------------------ rare classes
def test_modern_recipe_has_no_class_weights_and_a_cosine_decay_without_warmup():
    cfg = compose_cfg(["recipe=modern", "trainer.max_epochs=20"])
    assert cfg.model.class_weights is None and not cfg.model.logit_adjust
    opt = torch.optim.AdamW([torch.nn.Parameter(torch.zeros(1))], lr=1e-3)
    scheduler = hydra.utils.instantiate(cfg.model.scheduler)(optimizer=opt)
    lrs = []
    for _ in range(20):
        lrs.append(opt.param_groups[0]["lr"])
        opt.step()
        scheduler.step()
    assert lrs[0] == 1e-3  # no warm-up: a 20-epoch run trains at full rate from the start
    assert all(a > b for a, b in zip(lrs, lrs[1:], strict=False)) and lrs[-1] < 0.01 * lrs[0]


def test_ablation_recipe_sweeps_both_recipes_over_every_rare_class_switch_and_seeds():
    cfg = compose_cfg(["experiment=ablation_recipe"])
    params = {k: str(v).split(",") for k, v in cfg.hydra.sweeper.params.items()}
    assert params["recipe"] == ["paper", "modern"] and len(params["seed"]) >= 3
    assert sorted(params["model.class_weights"]) == sorted(["null", *SCHEMES])
    assert params["model.logit_adjust"] == ["false", "true"]
    for recipe in params["recipe"]:  # every job composes
        for weights in params["model.class_weights"]:
            job = compose_cfg(["experiment=ablation_recipe", f"recipe={recipe}", f"model.class_weights={weights}"])
            assert job.recipe == recipe and job.model.class_weights == (None if weights == "null" else weights)


class LabelledSplit(pl.LightningDataModule):
    """A training set with labels (what class weights and the prior come from), validation, and a test side that
    must never be read while tau is fitted."""

    def __init__(self, train: tuple, val: tuple):
        super().__init__()
        self.train_set, self.val_set = SimpleNamespace(labels=train[1].tolist()), SimpleNamespace(samples=val[1])
        self.train, self.val = train, val

    def train_dataloader(self):
        return DataLoader(TensorDataset(*self.train), batch_size=len(self.train[1]))

    def val_dataloader(self):
        return DataLoader(TensorDataset(*self.val), batch_size=5)

    def test_dataloader(self):
        raise AssertionError("a test set was read")


def imbalanced(n: int, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    return batch(n, seed=seed), torch.multinomial(torch.tensor([8.0, 1, 1, 4, 2, 2, 1]), n, True, generator=g)


@pytest.mark.parametrize("scheme", ["balanced", "sqrt", "effective"])
def test_each_class_weight_scheme_weights_the_training_loss(tmp_path, scheme):
    m = module(class_weights=scheme)
    dm = LabelledSplit(imbalanced(12, 0), imbalanced(5, 1))
    quiet_trainer(tmp_path, max_steps=1, limit_val_batches=0, enable_checkpointing=False).fit(m, datamodule=dm)
    expected = class_weights(scheme, dm.train_set.labels, 7)
    assert torch.equal(m.class_weight, expected) and not torch.allclose(expected, torch.ones(7))
    x, y = dm.train
    torch.manual_seed(1)
    loss = m.training_step((x, y), 0)
    torch.manual_seed(1)
    assert torch.allclose(loss, F.cross_entropy(m.net(m.normalize(x)), y, weight=expected))


def test_tau_is_fitted_on_the_validation_split_only(tmp_path):
    m = module(logit_adjust=True, test_names=["t"])
    dm = LabelledSplit(imbalanced(40, 0), imbalanced(30, 1))
    trainer = quiet_trainer(tmp_path)
    adjustment = fit_logit_adjustment(trainer, m, dm, None)  # the test side raises if read
    prior = class_prior(dm.train_set.labels, 7)
    m.set_logit_adjustment(None)
    with torch.no_grad():
        val_probs = m.eval().probabilities(dm.val[0])
    tau, scores = fit_tau(val_probs, dm.val[1], prior)
    assert adjustment["tau"] == tau and adjustment["fitted_on"] == "val" and adjustment["val_images"] == 30
    assert adjustment["prior"] == pytest.approx(prior.tolist(), abs=1e-6)
    assert adjustment["val_f1_after"] == scores[tau] >= adjustment["val_f1_before"] == scores[0.0]
    assert fit_logit_adjustment(trainer, module(test_names=["t"]), dm, None) is None  # off by default


RARE = {"angry": 3, "happy": 12, "neutral": 6, "sad": 3}  # training images per class: imbalanced, as real sets are
SHRINK = [
    "logger=none",
    "recipe=paper",
    "backbone.pretrained=false",
    "backbone.input_size=32",
    "trainer=cpu",
    "trainer.max_epochs=1",
    "+trainer.limit_train_batches=1",
    "+trainer.enable_progress_bar=false",
    "callbacks.phase_switch=null",
]


def rare_class_run(tmp_path: Path, *overrides: str) -> tuple[DictConfig, dict]:
    """A tiny run on FER2013's folder form with an imbalanced training side (`RARE`), 2 test images a class."""
    from train import train

    root, n = tmp_path / "fer2013", 0
    for split, counts in (("train", RARE), ("test", dict.fromkeys(RARE, 2))):
        for cls, count in counts.items():
            for k in range(count):
                write(root / split / cls / f"im{k}.png", face(48, 48, seed=n, gray=True))
                n += 1
    data = ["data=fer2013", "protocol=official", f"paths.fer2013={root}", "protocol.val_fraction=0.25"]
    cfg = compose_cfg([*data, *SHRINK, *overrides, f"paths.root_dir={tmp_path}", f"paths.cache_dir={tmp_path / 'c'}"])
    with open_dict(cfg):
        cfg.paths.output_dir = str(tmp_path / "run")
    return cfg, train(cfg)


@pytest.mark.slow  # each scheme's weights reach the loss: test_each_class_weight_scheme_weights_the_training_loss
@pytest.mark.parametrize("scheme", ["sqrt", "balanced"])  # effective: in `adjusted_run`
def test_each_class_weight_scheme_trains_end_to_end(tmp_path, scheme):
    cfg, results = rare_class_run(tmp_path, f"model.class_weights={scheme}")
    assert cfg.model.class_weights == scheme
    assert results["tests"]["fer2013"]["n"] == 8 and 0 <= results["tests"]["fer2013"]["f1"] <= 1


@pytest.fixture(scope="module")
def adjusted_run(tmp_path_factory) -> tuple[DictConfig, dict]:
    """A run with effective-number weights, flip TTA and logit adjustment. tau is forced to 1 (Menon et al.'s
    value) so that the adjustment of a barely trained model is not the identity; how tau is chosen on validation is
    `test_tau_is_fitted_on_the_validation_split_only`'s."""
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(balancing, "fit_tau", partial(fit_tau, grid=(1.0,)))  # posthoc imports it when it runs
        overrides = ("model.class_weights=effective", "model.logit_adjust=true", "model.tta_flip=true")
        return rare_class_run(tmp_path_factory.mktemp("adjusted"), *overrides)


def test_the_tested_checkpoint_carries_the_adjustment_fitted_on_validation(adjusted_run):
    cfg, results = adjusted_run
    adj = results["logit_adjustment"]
    split = json.loads((Path(cfg.paths.output_dir) / "split.json").read_text())
    assert adj["tau"] == 1.0 and adj["fitted_on"] == "val" and adj["val_images"] == split["images"]["val"]
    assert split["images"]["train"] + split["images"]["val"] == sum(RARE.values())  # validation held out of train
    saved = torch.load(results["best_checkpoint"], weights_only=True)["hyper_parameters"]["logit_adjustment"]
    assert saved == adj and sum(adj["prior"]) == pytest.approx(1.0, abs=1e-5)
    assert adj["prior"][CLASSES.index("happy")] > adj["prior"][CLASSES.index("sad")] and adj["prior"][1] == 0


def test_predict_and_export_give_the_test_loops_adjusted_probabilities(adjusted_run, tmp_path, capsys):
    from fer.deploy.export import main as export_main
    from fer.deploy.predict import main as predict_main
    from fer.deploy.predictors import OnnxPredictor, TorchPredictor
    from fer.evaluation.predictions import load_run_predictions

    cfg, results = adjusted_run
    ckpt = results["best_checkpoint"]
    tested = load_run_predictions(cfg.paths.output_dir)["fer2013"]  # the test loop's probabilities, per file
    model = tmp_path / "model.onnx"
    assert export_main(["--checkpoint", ckpt, "--out", str(model)]) == 0
    capsys.readouterr()
    torch_p, onnx_p = TorchPredictor(ckpt), OnnxPredictor(model)
    assert onnx_p.metadata["fer.output"]["logit_adjustment"]["tau"] == 1.0
    files = [Path(f) for f in tested.files]
    crops = torch_p.pipeline.batch([torch_p.pipeline.all_faces(torch_p.pipeline.load(p))[0].crop for p in files])
    from_checkpoint, from_onnx = torch_p.probabilities(crops), onnx_p.probabilities(crops)
    np.testing.assert_allclose(from_checkpoint, tested.probs, atol=1e-4, rtol=0)
    np.testing.assert_allclose(from_onnx, tested.probs, atol=1e-4, rtol=0)
    torch_p.model.set_logit_adjustment(None)  # the same weights unadjusted: visibly different probabilities
    assert np.abs(torch_p.probabilities(crops) - from_checkpoint).max() > 1e-2
    for option, path in (("--checkpoint", ckpt), ("--model", str(model))):  # `python -m fer.predict` alike
        assert predict_main([option, path, *map(str, files)]) == 0
        rows = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
        got = np.array([[r["probs"][c] for c in CLASSES] for r in rows])
        np.testing.assert_allclose(got, tested.probs, atol=1e-4, rtol=0)
