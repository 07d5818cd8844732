"""The one place that reaches into another library's private state, because no public way exists.

Each access is a small function with a test (tests/unit/utils/test_compat.py) that fails loudly when an upgrade renames
or removes what it relies on.
"""

from __future__ import annotations

from torch.optim.lr_scheduler import LRScheduler


def set_last_lr(scheduler: LRScheduler, lrs: list[float]) -> None:
    """Make `scheduler.get_last_lr()` report `lrs`. A parameter group added to the optimizer mid-training
    (the phase switch) would otherwise be missing from it until the scheduler's next step; torch offers no
    setter, and `get_last_lr()` returns the private `_last_lr`."""
    if not hasattr(scheduler, "_last_lr"):
        raise RuntimeError(
            f"{type(scheduler).__name__} has no `_last_lr` any more: update fer/utils/compat.py for this torch version"
        )
    scheduler._last_lr = list(lrs)
