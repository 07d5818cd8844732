"""The record every reader returns: one image with its label, subject, dataset and origin."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

ORIGINS = ("original", "offline_aug", "gan", "pfa", "web")


@dataclass(frozen=True)
class Sample:
    """One labelled image.

    `subject` is unique across datasets (`kdef:F01`, `ckplus:S005`, `jaffe:KA`). Derived images
    (`offline_aug`, `gan`, `pfa`) carry the subject of their source, so splits keep them together.
    """

    path: str
    label: int
    subject: str
    dataset: str
    origin: str = "original"
    source: str | None = None  # path of the sample this one was derived from
    meta: dict[str, Any] = field(default_factory=dict, compare=False, hash=False)

    def __post_init__(self) -> None:
        if self.origin not in ORIGINS:
            raise ValueError(f"{self.path}: origin {self.origin!r} not in {ORIGINS}")

    def to_dict(self) -> dict[str, Any]:
        """The fields as a plain dict (meta included)."""
        return asdict(self)
