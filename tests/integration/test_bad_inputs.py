"""Bad settings: each is refused before any data is read, with a message naming the key, the value and what
is allowed.

Most cases compose the real configuration and call `check_config` in-process (fast). The `*_cli` tests run
the real entry points in a subprocess and also assert a non-zero exit without a Python traceback: that part
relies on the entry points' task wrapper, which prints a `fer.errors.UserError` as one message.
"""

from __future__ import annotations

import copy
import os
import subprocess
import sys
from pathlib import Path

import pytest
from hydra.core.override_parser.overrides_parser import OverridesParser
from omegaconf import DictConfig, OmegaConf

from fer.engine.config_checks import check_config, check_image_size
from fer.errors import ConfigError
from tests.conftest import compose_cfg, synthetic_overrides

ROOT = Path(__file__).resolve().parents[2]
_PARSER = OverridesParser.create()

# (overrides, words the message must hold): each a settings mistake a user can make on the command line
TRAIN_CASES = {
    "val_fraction_above_1": (["protocol.val_fraction=1.5"], ["protocol.val_fraction=1.5", "between 0 and 1"]),
    "val_fraction_0": (["protocol.val_fraction=0"], ["protocol.val_fraction=0", "between 0 and 1"]),
    "fold_out_of_range": (["protocol=kfold", "protocol.fold=7"], ["protocol.fold=7", "0 to 4"]),
    "n_folds_1": (["protocol=kfold", "protocol.n_folds=1"], ["protocol.n_folds=1", ">= 2"]),
    "batch_size_0": (["data.batch_size=0"], ["data.batch_size=0", "positive integer"]),
    "max_epochs_text": (["trainer.max_epochs=abc"], ["trainer.max_epochs='abc'", "positive integer"]),
    "max_epochs_negative": (["trainer.max_epochs=-5"], ["trainer.max_epochs=-5", "positive integer"]),
    "max_epochs_0": (["trainer.max_epochs=0"], ["trainer.max_epochs=0", "positive integer"]),
    "seed_text": (["seed=abc"], ["seed='abc'", "integer"]),
    "color_unknown": (["data.color=purple"], ["data.color='purple'", "gray, rgb"]),
    "image_size_0": (["data.image_size=0"], ["data.image_size=0", "positive image size"]),
    "detector_unknown": (["faces.detector=dlib"], ["faces.detector='dlib'", "haar"]),
    "timm_unknown_model": (["backbone=timm", "backbone.name=not_a_model"], ["backbone.name='not_a_model'", "timm"]),
    "timm_typo": (["backbone=timm", "backbone.name=resnet1Ot"], ["did you mean", "resnet10t"]),
    "timm_name_unset": (["backbone=timm"], ["backbone.name is not set"]),
}
GENERATE_CASES = {
    "gan_unknown_emotion": (["task=gan", "emotion=joy"], ["emotion='joy'", "happy"]),
    "gan_no_emotion": (["task=gan"], ["emotion=None", "all"]),
    "color_unknown": (["task=augment", "color=purple"], ["color='purple'", "gray, rgb"]),
    "image_size_negative": (["task=gan", "emotion=happy", "image_size=-64"], ["image_size=-64", "positive"]),
}


_COMPOSED: dict[tuple, DictConfig] = {}


def _cfg(overrides: list[str], config_name: str = "train.yaml", base: tuple[str, ...] = ()) -> DictConfig:
    """The composed config with `overrides`: group choices composed (once per choice, composing is slow here),
    values set on a copy, parsed as Hydra parses command-line values."""
    groups = tuple(o for o in overrides if "." not in o.split("=", 1)[0] and o.split("=", 1)[0] not in ("seed",))
    key = (config_name, base, groups)
    if key not in _COMPOSED:
        _COMPOSED[key] = compose_cfg([*base, *groups], config_name)
    cfg = copy.deepcopy(_COMPOSED[key])
    for o in overrides:
        if o.split("=", 1)[0] not in [g.split("=", 1)[0] for g in groups]:
            k, v = o.split("=", 1)
            OmegaConf.update(cfg, k, _PARSER.parse_override(o).value(), force_add=True)
    return cfg


def _train_cfg(tmp_path, overrides):
    return _cfg(overrides, base=("experiment=demo", "logger=none", "paths.root_dir=/nonexistent"))


@pytest.mark.parametrize("case", sorted(TRAIN_CASES))
def test_train_settings_are_refused_with_the_key_and_value(case, tmp_path):
    overrides, words = TRAIN_CASES[case]
    with pytest.raises(ConfigError) as err:
        check_config(_train_cfg(tmp_path, overrides))
    for w in words:
        assert w in str(err.value)


@pytest.mark.parametrize("case", sorted(GENERATE_CASES))
def test_generate_settings_are_refused_with_the_key_and_value(case, tmp_path):
    overrides, words = GENERATE_CASES[case]
    cfg = _cfg(overrides, "generate.yaml", base=("paths.root_dir=/nonexistent", "out_dir=/nonexistent/out"))
    with pytest.raises(ConfigError) as err:
        check_config(cfg)
    for w in words:
        assert w in str(err.value)


def test_a_detector_without_its_model_is_refused_where_a_source_uses_it(tmp_path):
    missing = ["faces=yunet", "faces.model=/nonexistent/yunet.onnx"]
    with pytest.raises(ConfigError) as err:  # the real KDEF, CK+ and JAFFE sources detect faces
        check_config(_cfg(["logger=none", *missing], base=("paths.root_dir=/nonexistent",)))
    assert "faces.model='/nonexistent/yunet.onnx'" in str(err.value) and "yunet needs its model" in str(err.value)
    check_config(_train_cfg(tmp_path, missing))  # the synthetic sources crop at fixed boxes: no detector used


def test_every_problem_is_listed_at_once(tmp_path):
    with pytest.raises(ConfigError) as err:
        check_config(_train_cfg(tmp_path, ["seed=abc", "data.batch_size=-1", "data.color=cmyk"]))
    msg = str(err.value)
    assert msg.startswith("invalid configuration:") and "seed=" in msg and "data.batch_size=-1" in msg
    assert "data.color='cmyk'" in msg


@pytest.mark.parametrize(
    "overrides",
    [
        [],
        ["protocol=kfold", "protocol.fold=4"],
        ["backbone=timm", "backbone.name=vgg16.tv_in1k"],
        ["data.color=rgb", "protocol.val_fraction=0.5"],
    ],
)
def test_valid_settings_pass(overrides, tmp_path):
    check_config(_train_cfg(tmp_path, overrides))


def test_shipped_configurations_pass(tmp_path):
    for backbone in ("inception_resnet_v2", "inception_v3", "mobilenetv3_small_050", "resnet10t", "vgg16", "vgg19"):
        check_config(compose_cfg([f"backbone={backbone}", f"paths.root_dir={tmp_path}"]))
    for task in ("augment", "gan_eval"):
        check_config(compose_cfg([f"task={task}", f"paths.root_dir={tmp_path}"], "generate.yaml"))
    check_config(compose_cfg(["task=gan", "emotion=all", f"paths.root_dir={tmp_path}"], "generate.yaml"))


def test_image_size_check_for_the_command_line():
    with pytest.raises(ConfigError, match=r"--size=0: expected a positive image size"):
        check_image_size(0, "--size")
    check_image_size(224, "--size")


# --------------------------------------------------------- the entry points (exit code, no traceback)


def _run(args: list[str], tmp_path) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": str(ROOT), "WANDB_MODE": "offline"}
    env.pop("HYDRA_FULL_ERROR", None)
    env.pop("FER_DEBUG", None)
    return subprocess.run([sys.executable, *args], cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)


def _assert_clean_error(r: subprocess.CompletedProcess, *words: str) -> None:
    out = r.stdout + r.stderr
    assert r.returncode != 0, out
    assert "Traceback" not in out, out  # needs the entry points' task wrapper (UserError: one message)
    for w in words:
        assert w in out, out


def test_train_cli_refuses_bad_epochs_before_reading_data(tmp_path, synthetic_dir):
    args = ["train.py", "experiment=demo", "logger=none", *synthetic_overrides(synthetic_dir)]
    r = _run([*args, f"paths.root_dir={tmp_path}", f"hydra.run.dir={tmp_path}/run", "trainer.max_epochs=abc"], tmp_path)
    _assert_clean_error(r, "trainer.max_epochs='abc'", "positive integer")
    assert not (tmp_path / "cache").exists()  # no data was read


def test_generate_cli_refuses_an_unknown_emotion(tmp_path):
    args = ["generate.py", "task=gan", "emotion=joy", f"out_dir={tmp_path}/gan", f"paths.root_dir={tmp_path}"]
    r = _run([*args, f"hydra.run.dir={tmp_path}/run"], tmp_path)
    _assert_clean_error(r, "emotion='joy'")


def test_prepare_cli_refuses_size_0(tmp_path):
    from tests.helpers.data_trees import face, write

    write(tmp_path / "faces" / "happy" / "a.png", face(56, 76))
    cmd = ["-m", "fer.data", "prepare", "folder", str(tmp_path / "faces"), "--detector", "none", "--size", "0"]
    r = _run([*cmd, "--cache-dir", str(tmp_path / "c")], tmp_path)
    _assert_clean_error(r, "size=0", "positive image size")


def test_rendering_into_an_existing_file_names_it(tmp_path):
    target = tmp_path / "taken.txt"
    target.write_text("x")
    p = subprocess.run(
        [sys.executable, "-m", "fer.data", "render-synthetic", "kdef", str(target)],
        capture_output=True,
        text=True,
        cwd=Path(__file__).resolve().parents[2],
    )
    assert p.returncode != 0 and "Traceback" not in p.stderr
    assert f"{target} is a file" in p.stderr and "give a folder path" in p.stderr


def test_oversized_image_is_called_too_large_not_truncated(tmp_path, monkeypatch):
    from PIL import Image

    from fer.faces.images import BadImageError, decode

    path = tmp_path / "huge.png"
    Image.new("L", (64, 64)).save(path)
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 100)  # 64 x 64 = 4096 > 2 x 100: Pillow's bomb error
    with pytest.raises(BadImageError) as err:
        decode(path)
    assert "too large to decode safely" in str(err.value) and "truncated" not in str(err.value)
