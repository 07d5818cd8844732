"""One face pipeline: training and prediction feed the network the same tensor, from a checkpoint alone."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import cv2
import hydra
import numpy as np
import pytest
import torch
from skimage import data as skdata

from fer.classes import CLASSES
from fer.data.datamodule import FaceArrayDataset
from fer.data.samples import Sample
from fer.deploy.checkpoint import load_classifier
from fer.deploy.predict import face_rows
from fer.deploy.predict import main as predict_main
from fer.deploy.predictors import Predictor
from fer.faces.detection import FaceOptions
from fer.faces.pipeline import FacePipeline


class Recorder(Predictor):
    """Records the batch the network would get (uniform probabilities)."""

    def __init__(self, pipeline: FacePipeline):
        self.pipeline, self.class_names, self.batches = pipeline, ["a", "b"], []

    def probabilities(self, batch):
        self.batches.append(batch)
        return np.full((len(batch), 2), 0.5)


@pytest.fixture(scope="module")
def photos(tmp_path_factory) -> dict[str, Path]:
    d = tmp_path_factory.mktemp("photos")
    astronaut = d / "astronaut.png"
    cv2.imwrite(str(astronaut), cv2.cvtColor(skdata.astronaut(), cv2.COLOR_RGB2BGR))
    small = d / "small.png"  # smaller than the crop size: enlarged (linear), where the rest is shrunk (area)
    cv2.imwrite(str(small), cv2.resize(cv2.imread(str(astronaut)), (40, 30), interpolation=cv2.INTER_AREA))
    return {"astronaut": astronaut, "small": small}


CASES = {
    "none": FaceOptions(detector="none"),
    "none+crop": FaceOptions(detector="none", crop=(0.3, 0.1, 0.62, 0.45)),
    "haar": FaceOptions(detector="haar"),
}


@pytest.mark.parametrize("color", ["gray", "rgb"])
@pytest.mark.parametrize(  # a 40 x 30 thumbnail (enlarged) has no face for haar to find: the fixed crops cover it
    ("case", "photo"), [(c, p) for c in CASES for p in ("astronaut", "small") if (c, p) != ("haar", "small")]
)
def test_training_and_prediction_feed_the_network_the_same_tensor(photos, tmp_path, case, color, photo):
    from fer.data.cache import prepare

    opts, size = CASES[case], 48
    path = photos[photo]
    sample = Sample(str(path), 0, "web:1", "web")
    trained = FaceArrayDataset(prepare([sample], opts, size, color, tmp_path / "cache", workers=1))[0][0]

    # Prediction: the pipeline as a checkpoint stores and restores it, through fer.deploy.predict's own code path
    stored = FacePipeline.from_dict(json.loads(json.dumps(FacePipeline(opts, size, color).to_dict())))
    recorder = Recorder(stored)
    rows = face_rows(recorder, stored, stored.load(path))
    fed = torch.from_numpy(recorder.batches[0][0])
    assert rows[0]["face_found"] is (None if opts.detector == "none" else True)  # a fixed crop detects nothing
    assert fed.dtype == trained.dtype == torch.uint8 and fed.shape == trained.shape
    assert torch.equal(fed, trained)


def test_the_numpy_normalization_equals_the_models(trained_run):
    _, checkpoint = trained_run
    model, pipeline = load_classifier(checkpoint)
    batch = np.random.default_rng(0).integers(0, 256, (3, pipeline.channels, pipeline.size, pipeline.size), np.uint8)
    assert np.array_equal(pipeline.normalize(batch), model.normalize(torch.from_numpy(batch)).numpy())


def test_the_checkpoint_carries_the_training_pipeline(trained_run):
    cfg, checkpoint = trained_run
    model, pipeline = load_classifier(checkpoint)
    kdef = cfg.sources.kdef.faces  # the demo trains on synthetic KDEF, cropped at a fixed box
    assert pipeline.faces.detector == kdef.detector == "none"
    assert pipeline.faces.crop == tuple(kdef.crop)
    assert (pipeline.size, pipeline.color) == (cfg.data.image_size, cfg.data.color)
    mean, std = model.input_stats()
    assert pipeline.mean == pytest.approx(mean) and pipeline.std == pytest.approx(std)
    assert model.hparams.inference["backbone"] == cfg.backbone.name
    assert model.hparams.inference["train_sources"] == list(cfg.data.train)


def test_predict_on_a_training_image_equals_the_model_on_its_cached_crop(trained_run, tmp_path, capsys):
    cfg, checkpoint = trained_run
    alone = tmp_path / "model.ckpt"  # no run folder, no .hydra/config.yaml: the checkpoint alone
    shutil.copy(checkpoint, alone)
    datamodule = hydra.utils.instantiate(cfg.data, _convert_="all")
    datamodule.setup("fit")  # the cache entries the run built
    train = datamodule.train_set
    i = next(i for i, s in enumerate(train.samples) if s.origin == "original")
    assert predict_main(["--checkpoint", str(alone), train.samples[i].path]) == 0
    (row,) = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    model, _ = load_classifier(alone)
    with torch.inference_mode():
        expected = model.probabilities(FaceArrayDataset(train)[i][0][None])[0]
    names = list(model.hparams.class_names)
    assert [row["probs"][n] for n in names] == pytest.approx(expected.tolist(), abs=1e-6)


def test_an_older_checkpoint_without_its_description_needs_its_run_config(trained_run, tmp_path, capsys):
    from omegaconf import OmegaConf

    cfg, checkpoint = trained_run
    ckpt = torch.load(checkpoint, map_location="cpu", weights_only=True)
    del ckpt["hyper_parameters"]["inference"]
    old = tmp_path / "run" / "checkpoints" / "old.ckpt"
    old.parent.mkdir(parents=True)
    torch.save(ckpt, old)
    image = next(Path(cfg.sources.kdef.root).rglob("*.JPG"))
    assert predict_main(["--checkpoint", str(old), str(image)]) == 2
    assert "--run-config" in capsys.readouterr().err
    (tmp_path / "run" / ".hydra").mkdir()
    OmegaConf.save(cfg, tmp_path / "run" / ".hydra" / "config.yaml")
    assert predict_main(["--checkpoint", str(old), str(image)]) == 0
    assert json.loads(capsys.readouterr().out.splitlines()[0])["label"] in CLASSES


def test_the_gan_settings_key_follows_a_sources_own_face_options(tmp_path):
    from fer.tasks.gan import effective_faces
    from tests.unit.tasks.test_gan import gan_cfg

    root = tmp_path / "kdef"
    root.mkdir()
    (root / "F01").mkdir()  # not empty: the options are read before any image
    base = effective_faces(gan_cfg(tmp_path, root, ["emotion=happy"]))
    changed = effective_faces(gan_cfg(tmp_path, root, ["emotion=happy", "++sources.kdef.faces.margin=0.4"]))
    assert base["kdef"]["margin"] != changed["kdef"]["margin"] == 0.4
