"""The ImageNet feature network for KID comes from local weights only: a given file, else the timm cache, else
nothing (and nothing is downloaded)."""

from __future__ import annotations

import numpy as np
import timm
import torch

from fer.models.components import feature_net


def test_weights_from_a_file_or_the_cache_and_none_without(tmp_path, monkeypatch):
    weights = tmp_path / "resnet10t.pth"
    torch.save(timm.create_model("resnet10t", pretrained=False).state_dict(), weights)
    net = feature_net.imagenet_features("resnet10t", str(weights))
    assert net is not None and net.description.startswith("timm:resnet10t") and str(weights) in net.description
    grey = np.random.default_rng(0).integers(0, 256, (3, 40, 40, 1), dtype=np.uint8)
    feats = net.embed(grey, batch_size=2, device=torch.device("cpu"))
    assert feats.shape == (3, 512) and feats.dtype == torch.float64
    assert torch.allclose(feats, net.embed(np.repeat(grey, 3, axis=-1), 2, torch.device("cpu")))  # grey = RGB

    asked = []
    monkeypatch.setattr(feature_net, "try_to_load_from_cache", lambda repo, name: asked.append(repo))
    assert feature_net.imagenet_features("resnet10t") is None  # not cached: no network, no download
    assert asked and asked[0] == timm.models.get_pretrained_cfg("resnet10t").hf_hub_id
    monkeypatch.setattr(feature_net, "try_to_load_from_cache", lambda repo, name: str(weights))
    assert feature_net.imagenet_features("resnet10t").description.endswith(f"from {weights})")
