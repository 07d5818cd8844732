"""Per-image predictions and calibration: what a run writes (predictions/*.csv, calibration_*.png, ECE and the
temperature in results.json), the module's collected outputs, and the calibration functions on synthetic
predictors."""

from __future__ import annotations

import json
import logging
from pathlib import Path

import numpy as np
import pytest
import pytorch_lightning as pl
import torch
from PIL import Image
from pytorch_lightning.loggers import CSVLogger
from torch.utils.data import DataLoader

from fer.data.samples import Sample
from fer.engine.results import print_run_table
from fer.engine.run_outputs import log_to_wandb
from fer.evaluation.calibration import (
    apply_temperature,
    at_bound,
    expected_calibration_error,
    fit_temperature,
    nll,
    reliability_diagram,
)
from fer.evaluation.predictions import Predictions, load_run_predictions
from fer.models.classifier import interleave_ranks
from tests.conftest import shrunk_demo_cfg
from tests.unit.models.test_classifier import data, module, trainer
from train import train


# ------------------------------------------------------------------------------------------ what a run writes
def test_a_run_writes_predictions_of_each_test_set_and_validation(demo_run, capsys):
    cfg, results = demo_run
    out = Path(cfg.paths.output_dir)
    saved = json.loads((out / "results.json").read_text())
    preds = load_run_predictions(out)
    assert set(preds) == {"ckplus", "jaffe", "val"}
    for name, r in saved["tests"].items():
        p = preds[name]
        assert len(p) == r["n"] > 0
        assert p.accuracy() == pytest.approx(r["acc"], abs=1e-6)  # every figure can be recomputed from the file
        assert r["ece"] == pytest.approx(expected_calibration_error(p.probs, p.labels), abs=1e-4)
        # scaled figures only with a temperature the validation set determined (this tiny model is near chance)
        assert ("ece_ts" in r and "nll_ts" in r) != saved["calibration"]["at_bound"] and "nll" in r
        assert Image.open(out / f"calibration_{name}.png").format == "PNG"
    assert len(preds["val"]) == saved["split"]["images"]["val"]  # the whole validation set
    assert saved["metrics"]["val/ece"] == pytest.approx(
        expected_calibration_error(preds["val"].probs, preds["val"].labels), abs=1e-4
    )
    cal = saved["calibration"]
    assert cal["temperature"] > 0 and cal["fitted_on"] == "val" and cal["val_images"] == len(preds["val"])
    # what the readers know about the people: KDEF codes the sex, the JAFFE posers are all women; CK+ says nothing
    assert set(preds["val"].groups["sex"]) <= {"F", "M"} and set(preds["jaffe"].groups["sex"]) == {"F"}
    assert "sex" not in preds["ckplus"].groups
    assert {s.split(":")[0] for s in preds["ckplus"].subjects} == {"ckplus"}
    print_run_table(saved)
    printed = capsys.readouterr().out
    assert "ECE" in printed and "T=" in printed and "predictions:" in printed and "calibration_jaffe.png" in printed
    said = "do not determine it" if saved["calibration"]["at_bound"] else "ECE (T-scaled) uses it"
    assert said in " ".join(printed.split())  # the table says whether the scaled figures exist


def test_without_a_checkpoint_or_test_sets_only_the_validation_predictions(tmp_path, synthetic_dir, caplog):
    cfg = shrunk_demo_cfg(tmp_path, synthetic_dir, "trainer.fast_dev_run=true", "test=false")
    with caplog.at_level(logging.INFO, logger="fer.engine.run_outputs"):
        results = train(cfg)
    assert "from the current weights" in caplog.text
    assert set(load_run_predictions(cfg.paths.output_dir)) == {"val"}
    assert results["tests"] == {} and results["calibration"]["temperature"] > 0 and "val/ece" in results["metrics"]
    assert not list(Path(cfg.paths.output_dir).glob("calibration_*.png"))


# ------------------------------------------------------------------------------------------ the module's outputs
def test_module_collects_probabilities_in_loader_order_and_predict_leaves_validation_alone(tmp_path):
    m = module(test_names=["a", "b"])
    t1, t2, val = data(10, 2), data(9, 3), data(12, 1)
    tr = trainer(tmp_path, max_epochs=1)
    tr.fit(m, DataLoader(data(8, 0), batch_size=8), DataLoader(val, batch_size=5))
    history = json.dumps(m.val_history)
    tr.test(m, [DataLoader(t1, batch_size=4), DataLoader(t2, batch_size=4)], verbose=False)
    m.eval()
    for name, ds in (("a", t1), ("b", t2)):
        probs, labels = m.test_outputs[name]
        with torch.no_grad():
            expected = m(ds.tensors[0]).softmax(-1)
        assert torch.allclose(probs, expected, atol=1e-6) and torch.equal(labels, ds.tensors[1])
        assert m.test_results[name]["ece"] == pytest.approx(expected_calibration_error(probs, labels), abs=1e-6)
    tr.predict(m, DataLoader(val, batch_size=5), return_predictions=False)
    probs, labels = m.predict_outputs
    assert probs.shape == (12, 7) and torch.equal(labels, val.tensors[1])
    assert json.dumps(m.val_history) == history  # predicting is not a validation epoch


def test_a_test_set_without_images_does_not_shift_the_others_onto_its_name(tmp_path):
    class Served(pl.LightningDataModule):  # the DataModule serves "b" only ("a" has no images)
        served_test_names = ["b"]

        def test_dataloader(self):
            return [DataLoader(data(6, 4), batch_size=3)]

    m = module(test_names=["a", "b"])
    trainer(tmp_path, max_epochs=1).test(m, datamodule=Served(), verbose=False)
    assert list(m.test_results) == ["b"] and m.test_results["b"]["n"] == 6
    assert m.test_outputs["b"][1].tolist() == data(6, 4).tensors[1].tolist()


@pytest.mark.parametrize("padded", [True, False])
def test_outputs_of_distributed_ranks_come_back_in_dataset_order(padded):
    from torch.utils.data.distributed import DistributedSampler

    n, world = 10, 3
    if padded:  # the test loop's sampler: every rank the same count, the first items repeated at the end
        ranks = [list(DistributedSampler(range(n), world, r, shuffle=False)) for r in range(world)]
    else:  # the predict loop's: items r, r + W, ... only, so the ranks' counts differ by one
        ranks = [list(range(r, n, world)) for r in range(world)]
    m = max(map(len, ranks))
    gathered = torch.tensor([idx + [-1] * (m - len(idx)) for idx in ranks])  # padded to a common length
    total = sum(map(len, ranks))
    assert interleave_ranks(gathered, total)[:n].tolist() == list(range(n))
    assert interleave_ranks(gathered.unsqueeze(-1).expand(-1, -1, 7), total).shape == (total, 7)


# ------------------------------------------------------------------------------------------ calibration functions
def synthetic(n: int, seed: int, sharpen: float = 1.0):
    """A calibrated predictor (labels drawn from its own probabilities), optionally sharpened (over-confident)."""
    rng = np.random.default_rng(seed)
    logits = rng.normal(size=(n, 7)) * 1.5
    probs = np.exp(logits) / np.exp(logits).sum(1, keepdims=True)
    labels = (rng.random((n, 1)) > probs.cumsum(1)).sum(1)  # one draw from each row's distribution
    return apply_temperature(probs, 1.0 / sharpen), labels


def test_ece_is_near_zero_when_calibrated_and_large_when_over_confident():
    calibrated, y = synthetic(20000, 0)
    over, y_over = synthetic(20000, 0, sharpen=3.0)
    assert expected_calibration_error(calibrated, y) < 0.02
    assert expected_calibration_error(over, y_over) > 0.1


def test_a_temperature_at_the_edge_of_its_range_is_not_determined():
    y = np.arange(70) % 7
    confident_and_right = np.eye(7)[y] * 0.9 + 0.1 / 7  # every prediction right: the NLL falls as T -> 0
    t = fit_temperature(confident_and_right, y)
    assert at_bound(t) and not at_bound(1.0)


def test_temperature_fitted_on_one_half_calibrates_the_other_and_keeps_every_prediction():
    probs, y = synthetic(20000, 1, sharpen=3.0)
    fit, held = slice(0, 10000), slice(10000, None)
    temperature = fit_temperature(probs[fit], y[fit])
    assert temperature == pytest.approx(3.0, rel=0.1)  # undoes the sharpening
    scaled = apply_temperature(probs[held], temperature)
    assert expected_calibration_error(scaled, y[held]) < expected_calibration_error(probs[held], y[held]) / 3
    assert nll(scaled, y[held]) < nll(probs[held], y[held])
    assert np.array_equal(scaled.argmax(1), probs[held].argmax(1))  # accuracy never changes
    assert np.allclose(scaled.sum(1), 1.0)


def test_reliability_diagram_is_a_readable_png(tmp_path):
    probs, y = synthetic(500, 2, sharpen=2.0)
    path = reliability_diagram(probs, y, tmp_path / "calibration_x.png", "x: ECE 0.1")
    img = Image.open(path)
    assert img.format == "PNG" and min(img.size) > 200
    assert not list(tmp_path.glob(".*tmp*"))


def test_figures_from_a_saved_predictions_file_equal_the_live_ones(tmp_path):
    probs, y = synthetic(300, 3, sharpen=2.0)
    samples = [
        Sample(f"img{i}.png", int(c), f"kdef:S{i % 5}", "kdef", meta={"sex": "FM"[i % 2]}) for i, c in enumerate(y)
    ]
    p = Predictions.from_samples(samples, probs, [str(c) for c in range(7)])
    p.save(tmp_path / "predictions" / "x.csv")
    back = load_run_predictions(tmp_path)["x"]
    assert expected_calibration_error(back.probs, back.labels) == pytest.approx(
        expected_calibration_error(probs, y), abs=1e-5
    )
    assert fit_temperature(back.probs, back.labels) == pytest.approx(fit_temperature(probs, y), rel=1e-3)


def test_wandb_logging_is_a_no_op_without_a_wandb_logger(tmp_path):
    probs, y = synthetic(20, 4)
    samples = [Sample(f"{i}.png", int(c), "s", "d") for i, c in enumerate(y)]
    preds = {"x": Predictions.from_samples(samples, probs, [str(c) for c in range(7)])}
    csv = CSVLogger(tmp_path)
    log_to_wandb([csv], preds, {})
    log_to_wandb([], preds, {})
    assert not list(tmp_path.rglob("*.csv"))  # nothing reached the CSV logger


def test_wandb_offline_run_receives_the_tables_and_diagrams(tmp_path, monkeypatch):
    from pytorch_lightning.loggers import WandbLogger

    monkeypatch.setenv("WANDB_MODE", "offline")
    probs, y = synthetic(20, 5)
    samples = [Sample(f"{i}.png", int(c), "s", "d") for i, c in enumerate(y)]
    preds = {"x": Predictions.from_samples(samples, probs, [str(c) for c in range(7)])}
    png = reliability_diagram(probs, y, tmp_path / "calibration_x.png", "x")
    lg = WandbLogger(save_dir=str(tmp_path), offline=True, project="ferlab-test")
    log_to_wandb([lg], preds, {"x": png})
    lg.experiment.finish()
    media = list(tmp_path.rglob("files/media/**/*"))
    assert any("predictions" in str(f) and f.suffix == ".json" for f in media)
    assert any(f.suffix == ".png" for f in media)
