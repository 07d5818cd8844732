"""Configs as plain values: what Hydra hands over (DictConfig) and what tests pass (dicts) look the same."""

from __future__ import annotations

from typing import Any


def plain(cfg: Any) -> dict:
    """A DictConfig (resolved) or a mapping as a plain dict; None is an empty dict."""
    from omegaconf import OmegaConf  # not needed by a deploy install, which passes plain dicts

    if OmegaConf.is_config(cfg):
        return OmegaConf.to_container(cfg, resolve=True)
    return dict(cfg or {})
