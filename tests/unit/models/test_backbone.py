"""Backbone factory and FERNet: trunk without its top, parameters outside forward_features, weights, input sizes.
Random weights only; the one pretrained=True test runs offline against empty caches."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
import timm
import torch
import yaml
from torch import nn

from fer.callbacks.phase_switch import trunk_blocks
from fer.models.components.backbone import FERNet, PretrainedWeightsError, create_trunk, probe_trunk
from tests.conftest import compose_cfg

ROOT = Path(__file__).resolve().parents[3]
PAPER = ["vgg16", "vgg19", "inception_v3", "inception_resnet_v2"]


@pytest.mark.parametrize(
    "name,unused",
    [
        ("mobilenetv3_small_050", {"conv_head.weight", "conv_head.bias"}),
        ("convnext_atto", {"head.norm.weight", "head.norm.bias"}),
        ("resnet10t", set()),
    ],
)
def test_parameters_outside_forward_features_are_frozen_and_never_blocks(name, unused):
    net = FERNet(name)
    assert set(net.unused_trunk_params) == unused
    named = dict(net.trunk.named_parameters())
    assert all(not named[n].requires_grad for n in unused)
    blocks = trunk_blocks(net.trunk, net.unused_trunk_params)
    # every block, in particular the last one (what k=1 unfreezes), gets gradient from forward_features
    x = torch.randn(2, 3, 64, 64)
    net.trunk.eval()
    out = net.trunk.forward_features(x).sum()
    for block in (blocks[-1], blocks[0]):
        grads = torch.autograd.grad(out, [named[n] for n in block], retain_graph=True, allow_unused=True)
        assert all(g is not None for g in grads), block
    assert not {n for b in blocks for n in b} & unused
    # without the exclusion timm's group_matcher puts the unused parameters into the last group
    if unused:
        assert set(trunk_blocks(net.trunk)[-1]) & unused


def test_vgg_trunk_has_no_fc6_fc7_and_head_is_gap_dense_dropout_linear():
    net = FERNet("vgg11", hidden=256, dropout=0.3)  # vgg11: the same VGG class as vgg16/19, quicker to build
    assert not any(n.startswith("pre_logits") for n, _ in net.trunk.named_parameters())
    assert net.num_features == 512
    parts = {name: type(m).__name__ for name, m in net.head.named_children()}
    assert parts == {
        "global_pool": "SelectAdaptivePool2d",
        "fc": "Linear",
        "act": "ReLU",
        "drop": "Dropout",
        "classifier": "Linear",
    }
    assert net.head.fc.out_features == 256 and net.head.drop.p == 0.3 and net.head.classifier.out_features == 7
    assert net(torch.randn(2, 3, 32, 32)).shape == (2, 7)  # the 32 px minimum: 1x1 features


def test_forward_head_splits_like_timm():
    net = FERNet("resnet10t", hidden=32).eval()
    x = torch.randn(2, 3, 32, 32)
    with torch.no_grad():
        fmap = net.forward_features(x)
        embedding = net.forward_head(fmap, pre_logits=True)
        logits = net.forward_head(fmap)
        assert fmap.shape == (2, 512, 1, 1) and embedding.shape == (2, 32) and logits.shape == (2, 7)
        assert torch.equal(net(x), logits)
        assert torch.allclose(net.head.classifier(embedding), logits)
        pooled = net.head.global_pool(fmap)
        assert torch.allclose(embedding, torch.relu(net.head.fc(pooled)))


def test_state_dict_with_positional_head_keys_still_loads():
    """Checkpoints from before the named head held its layers by position (head.2 dense, head.5 classifier)."""
    net = FERNet("resnet10t", hidden=32)
    renamed = {"head.fc.": "head.2.", "head.classifier.": "head.5."}
    old = {}
    for key, value in net.state_dict().items():
        for new_prefix, old_prefix in renamed.items():
            if key.startswith(new_prefix):
                key = old_prefix + key[len(new_prefix) :]
        old[key] = value + 1.0 if key.startswith("head.") else value
    assert "head.2.weight" in old and "head.5.bias" in old
    fresh = FERNet("resnet10t", hidden=32)
    fresh.load_state_dict(old)  # strict: every key found
    assert torch.equal(fresh.head.fc.weight, old["head.2.weight"])
    assert torch.equal(fresh.head.classifier.bias, old["head.5.bias"])
    # nested (as ClassifierModule holds it under `net.`), the same keys load too
    holder = nn.Module()
    holder.net = FERNet("resnet10t", hidden=32)
    holder.load_state_dict({f"net.{k}": v for k, v in old.items()})
    assert torch.equal(holder.net.head.fc.bias, old["head.2.bias"])


def test_checkpoint_path_loads_local_weights(tmp_path):
    src = timm.create_model("resnet10t", num_classes=0)
    with torch.no_grad():
        for p in src.parameters():
            p.add_(torch.randn_like(p))  # not what a fresh random init would give
    for name, model in [("trunk.pth", src), ("full.pth", timm.create_model("resnet10t"))]:
        if name == "full.pth":  # a full ImageNet-style state dict, classifier included
            model.load_state_dict(src.state_dict(), strict=False)
        torch.save(model.state_dict(), tmp_path / name)
        net = FERNet("resnet10t", pretrained=False, checkpoint_path=str(tmp_path / name))
        ref = src.state_dict()
        assert all(torch.equal(v, ref[k]) for k, v in net.trunk.state_dict().items())


def test_checkpoint_path_errors_name_the_file(tmp_path):
    with pytest.raises(PretrainedWeightsError, match="missing.pth does not exist.*checkpoint_path"):
        create_trunk("resnet10t", checkpoint_path=str(tmp_path / "missing.pth"))
    torch.save(timm.create_model("mobilenetv3_small_050").state_dict(), tmp_path / "other.pth")
    with pytest.raises(PretrainedWeightsError, match="other.pth does not fit 'resnet10t'"):
        create_trunk("resnet10t", checkpoint_path=str(tmp_path / "other.pth"))
    with pytest.raises(ValueError, match="not a timm model.*resnet10t"):
        create_trunk("resnet10")


def test_offline_without_weights_is_one_clear_error(tmp_path):
    env = {
        **os.environ,
        "HF_HUB_OFFLINE": "1",
        "HF_HOME": str(tmp_path / "hf"),
        "TORCH_HOME": str(tmp_path / "torch"),
        "PYTHONPATH": str(ROOT),
    }
    env.pop("HF_HUB_CACHE", None)
    code = (
        "from fer.models.components.backbone import FERNet, PretrainedWeightsError\n"
        "try:\n    FERNet('resnet10t', pretrained=True)\n"
        "except PretrainedWeightsError as e:\n    print('ERROR', e)\nelse:\n    print('LOADED')\n"
    )
    res = subprocess.run(
        [sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=120, cwd=tmp_path
    )
    assert res.returncode == 0, res.stderr[-2000:]
    out = res.stdout
    assert out.startswith("ERROR could not load ImageNet weights for 'resnet10t'"), out + res.stderr[-1000:]
    assert "network access" in out and "backbone.checkpoint_path=<file>" in out  # both remedies, one message


def test_backbone_configs_sizes_and_native_size():
    for path in sorted((ROOT / "conf" / "backbone").glob("*.yaml")):
        c = yaml.safe_load(path.read_text())
        assert {
            "name",
            "pretrained",
            "checkpoint_path",
            "input_size",
            "native_size",
            "min_input_size",
            "unfreeze_k",
        } <= set(c), path
        if path.stem == "timm":
            continue
        assert c["native_size"] == timm.get_pretrained_cfg(c["name"]).input_size[-1], path  # timm's own resolution
        if path.stem in PAPER:
            assert c["input_size"] == 224 and c["pretrained"] is True, path  # the paper: 224 px for every backbone
    cfg = compose_cfg(["backbone=inception_v3"])
    assert cfg.data.image_size == 224
    cfg = compose_cfg(["backbone=inception_v3", "backbone.input_size=${backbone.native_size}"])
    assert cfg.data.image_size == 299
    cfg = compose_cfg(["experiment=demo", "backbone=inception_v3"])  # the demo's 64 px lifted to inception's 75
    assert cfg.data.image_size == 75 and cfg.backbone.pretrained is False and cfg.model.net.pretrained is False
    cfg = compose_cfg(["experiment=demo", "backbone=vgg16"])
    assert cfg.data.image_size == 64 and cfg.model.net.pretrained is False


def test_probe_rejects_too_small_input_clearly():
    with pytest.raises(ValueError, match="rejects 16 px.*min_input_size"):
        FERNet("vgg11", min_input_size=16)  # the fifth 2x2 max-pool has nothing left to pool
    shape, unused = probe_trunk(timm.create_model("resnet10t", num_classes=0), 32)
    assert tuple(shape) == (1, 512, 1, 1) and not unused


@pytest.mark.slow
@pytest.mark.parametrize("name", PAPER)
def test_paper_backbone_min_size_and_blocks(name):
    c = yaml.safe_load((ROOT / "conf" / "backbone" / f"{name}.yaml").read_text())
    net = FERNet(name, min_input_size=c["min_input_size"])
    assert not net.unused_trunk_params
    blocks = trunk_blocks(net.trunk, net.unused_trunk_params)
    assert 0 < c["unfreeze_k"] < len(blocks)
    net.eval()
    assert net(torch.randn(1, 3, c["min_input_size"], c["min_input_size"])).shape == (1, 7)
