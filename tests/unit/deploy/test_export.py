"""fer.deploy.export: a self-describing ONNX model that predicts what the checkpoint predicts, without torch."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import onnx
import pytest

from fer.deploy.checkpoint import CheckpointError
from fer.deploy.export import main as export_main
from fer.deploy.modelcard import model_card
from fer.deploy.predict import main as predict_main
from fer.deploy.predictors import ModelFileError, OnnxPredictor, TorchPredictor

ROOT = Path(__file__).resolve().parents[3]


@pytest.fixture(scope="module")
def exported(trained_run, tmp_path_factory) -> tuple[Path, Path]:
    """The session's demo checkpoint and its ONNX export (module-wide: exporting takes seconds)."""
    out = tmp_path_factory.mktemp("export") / "model.onnx"
    assert export_main(["--checkpoint", str(trained_run[1]), "--format", "onnx", "--out", str(out)]) == 0
    return trained_run[1], out


@pytest.fixture(scope="module")
def test_images(trained_run) -> list[Path]:
    """Images of a test set the demo run was scored on (the synthetic JAFFE tree)."""
    root = Path(trained_run[0].paths.synthetic_dir) / "jaffe"
    return sorted(root.rglob("*.tiff"))[:6]


def real_crops(pipeline, images: list[Path]) -> np.ndarray:
    return pipeline.batch([pipeline.all_faces(pipeline.load(p))[0].crop for p in images])


def test_onnx_probabilities_match_pytorch_on_real_crops_at_any_batch_size(exported, test_images):
    checkpoint, model = exported
    torch_p, onnx_p = TorchPredictor(checkpoint), OnnxPredictor(model)
    crops = real_crops(torch_p.pipeline, test_images)
    assert crops.dtype == np.uint8 and crops.shape[1:] == (1, torch_p.pipeline.size, torch_p.pipeline.size)
    for batch in (crops[:1], crops[:5]):  # a dynamic batch dimension
        expected, got = torch_p.probabilities(batch), onnx_p.probabilities(batch)
        assert got.shape == expected.shape == (len(batch), 7)
        np.testing.assert_allclose(got, expected, atol=1e-4, rtol=0)
        np.testing.assert_allclose(got.sum(1), 1, atol=1e-5)


def test_metadata_round_trips_into_the_same_pipeline_and_classes(exported, trained_run):
    checkpoint, model = exported
    torch_p, onnx_p = TorchPredictor(checkpoint), OnnxPredictor(model)
    assert onnx_p.pipeline == torch_p.pipeline and onnx_p.pipeline.to_dict() == torch_p.pipeline.to_dict()
    assert onnx_p.class_names == torch_p.class_names
    meta = onnx_p.metadata
    assert meta["fer.input"]["dtype"] == "uint8" and meta["fer.input"]["shape"][1:] == [1, 32, 32]
    assert meta["fer.backbone"] == "resnet10t" and meta["fer.framework_version"]
    training = meta["fer.training"]
    assert training["data"] == trained_run[0].data.name and training["train_sources"] and training["synthetic_data"]
    results = json.loads((checkpoint.parent.parent / "results.json").read_text())
    metrics = meta["fer.test_metrics"]
    assert metrics["runs"] == 1 and set(metrics["sets"]) == set(results["tests"])
    for name, t in results["tests"].items():
        assert metrics["sets"][name]["images"] == t["n"] and metrics["sets"][name]["acc"] == t["acc"]


def test_the_model_card_says_what_the_model_is_and_how_far_to_trust_it(exported):
    _, model = exported
    card = model.with_suffix(".md").read_text()
    meta = OnnxPredictor(model).metadata
    assert all(f"`{c}`" in card for c in meta["fer.class_names"])
    assert "Plumbing check only" in card  # trained on the synthetic faces
    for name, t in meta["fer.test_metrics"]["sets"].items():
        assert f"| {name} | {t['images']} |" in card
    assert "Runs: 1" in card and "Intended use" in card and "posed, frontal" in card
    # A checkpoint moved out of its run folder: no metrics, and the card says so
    bare = model_card({**meta, "fer.test_metrics": None, "fer.training": {}}, "x.onnx")
    assert "No test metrics" in bare and "Plumbing check only" not in bare


def test_predict_from_the_exported_model_gives_the_checkpoints_rows(exported, test_images, capsys):
    checkpoint, model = exported
    folder = test_images[0].parent
    rows = {}
    for option, path in (("--checkpoint", checkpoint), ("--model", model)):
        assert predict_main([option, str(path), str(folder)]) == 0
        rows[option] = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert len(rows["--model"]) == len(rows["--checkpoint"]) > 5
    for a, b in zip(rows["--checkpoint"], rows["--model"], strict=True):
        assert {k: v for k, v in a.items() if k != "probs"} == {k: v for k, v in b.items() if k != "probs"}
        assert max(abs(a["probs"][c] - b["probs"][c]) for c in a["probs"]) < 1e-4


def test_predict_from_the_exported_model_needs_no_torch_lightning_or_hydra(exported, test_images):
    _, model = exported
    code = (
        "import sys\n"
        "for m in ('torch', 'lightning', 'pytorch_lightning', 'hydra', 'omegaconf', 'timm', 'onnx', 'onnxscript'):\n"
        "    sys.modules[m] = None  # any import of them fails\n"
        "from fer.deploy.predict import main\n"
        f"sys.exit(main(['--model', {str(model)!r}, {str(test_images[0])!r}]))\n"
    )
    p = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, timeout=120)
    assert p.returncode == 0, p.stderr
    (row,) = [json.loads(line) for line in p.stdout.splitlines()]
    assert row["file"] == str(test_images[0]) and row["label"] in row["probs"]


def test_an_onnx_file_without_ferlab_metadata_is_a_clear_error(exported, tmp_path):
    _, model = exported
    proto = onnx.load(str(model))
    del proto.metadata_props[:]
    foreign = tmp_path / "foreign.onnx"
    onnx.save(proto, str(foreign))
    with pytest.raises(ModelFileError, match=r"foreign\.onnx is an ONNX model without ferlab's metadata.*fer\.export"):
        OnnxPredictor(foreign)
    (tmp_path / "notes.onnx").write_text("not a model")
    with pytest.raises(ModelFileError, match=r"notes\.onnx is not a readable ONNX model"):
        OnnxPredictor(tmp_path / "notes.onnx")


def test_export_refuses_a_bad_checkpoint_and_an_unknown_format(tmp_path, capsys):
    bad = tmp_path / "notes.ckpt"
    bad.write_bytes(b"not a checkpoint")
    with pytest.raises(CheckpointError, match=r"--checkpoint=.*notes\.ckpt is not a readable train\.py checkpoint"):
        export_main(["--checkpoint", str(bad), "--out", str(tmp_path / "m.onnx")])
    with pytest.raises(SystemExit) as e:
        export_main(["--checkpoint", str(bad), "--format", "tflite"])
    assert e.value.code == 2 and "invalid choice: 'tflite'" in capsys.readouterr().err
    assert not list(tmp_path.glob("*.onnx")) and not list(tmp_path.glob(".*"))
