"""Two-phase transfer learning as a Lightning `BaseFinetuning` callback.

Phase 1 (epochs < `unfreeze_at`): the trunk is frozen, only the head trains; frozen BatchNorm layers are in
eval mode, so their running statistics do not move. Phase 2 (every epoch >= `unfreeze_at`): the last `k`
blocks of the trunk are trainable and sit in their own optimizer group at `lr` (lower than phase 1).

Blocks are the trunk's layer groups from timm's `group_matcher`, restricted to parameters that
`forward_features` actually uses (see `FERNet.unused_trunk_params`), so `k` always unfreezes real parameters.
Unfreezing works on exact parameters, not on owner modules, so a block never drags along parameters of others.

Resuming: Lightning's `BaseFinetuning` restores the optimizer's groups from its own state; this callback then
makes the restored block parameters trainable again (on every epoch >= `unfreeze_at`, and at train start for a
mid-epoch restart) and adds the group only when it is missing.
"""

from __future__ import annotations

import logging

import pytorch_lightning as pl
from pytorch_lightning.callbacks import BaseFinetuning
from timm.models import group_parameters
from torch import nn
from torch.optim import Optimizer

from fer.utils.compat import set_last_lr

log = logging.getLogger(__name__)
BATCH_NORMS = (nn.BatchNorm1d, nn.BatchNorm2d, nn.BatchNorm3d, nn.SyncBatchNorm)  # the lazy variants subclass these


def trunk_blocks(trunk: nn.Module, exclude: set[str] | list[str] = ()) -> list[list[str]]:
    """Parameter names of the trunk grouped into blocks in forward order; `exclude`d names dropped, then empty
    blocks dropped (so every block holds parameters that train)."""
    exclude = set(exclude)
    named = {n for n, _ in trunk.named_parameters()} - exclude
    if hasattr(trunk, "group_matcher"):
        groups = group_parameters(trunk, trunk.group_matcher(coarse=False))
        blocks = [[n for n in names if n in named] for _, names in sorted(groups.items())]
    else:  # plain modules: one block per parameterised child
        blocks = [
            [f"{c}.{n}" for n, _ in m.named_parameters() if f"{c}.{n}" in named] for c, m in trunk.named_children()
        ]
    return [b for b in blocks if b]


class PhaseSwitch(BaseFinetuning):
    """Train the head on a frozen trunk until epoch `unfreeze_at`, then also the trunk's last `k` blocks, in their
    own optimizer group at `lr` (see the module docstring)."""

    def __init__(
        self, unfreeze_at: int = 10, k: int = 2, lr: float = 1e-5, head_lr: float | None = None, train_bn: bool = False
    ):
        """`k=-1` unfreezes every block, `k=0` none; `head_lr`, when set, becomes the head's learning rate in phase 2.
        `train_bn=True` lets BatchNorm of the frozen trunk keep training (statistics and affine parameters)."""
        super().__init__()
        if unfreeze_at < 0:
            raise ValueError(f"callbacks.phase_switch.unfreeze_at={unfreeze_at} must be >= 0")
        self.unfreeze_at, self.k, self.lr, self.head_lr, self.train_bn = unfreeze_at, k, lr, head_lr, train_bn

    # -- which parameters -------------------------------------------------------------------------------------
    def blocks(self, pl_module: pl.LightningModule) -> list[list[str]]:
        """The trunk's parameter names by block, in forward order, without the parameters `forward_features` skips."""
        net = pl_module.net
        return trunk_blocks(net.trunk, getattr(net, "unused_trunk_params", ()))

    def blocks_to_unfreeze(self, pl_module: pl.LightningModule) -> list[str]:
        """Parameter names of the last `k` blocks (every block for k=-1, none for k=0)."""
        blocks = self.blocks(pl_module)
        if self.k > len(blocks):
            log.warning("phase_switch.k=%d but the trunk has %d blocks: unfreezing all", self.k, len(blocks))
        chosen = blocks if self.k < 0 else blocks[max(len(blocks) - self.k, 0) :] if self.k else []
        return [n for b in chosen for n in b]

    def _params(self, pl_module) -> list[nn.Parameter]:
        named = dict(pl_module.net.trunk.named_parameters())
        return [named[n] for n in self.blocks_to_unfreeze(pl_module)]

    # -- BaseFinetuning hooks -----------------------------------------------------------------------------------
    def freeze_before_training(self, pl_module: pl.LightningModule) -> None:
        """Freeze the trunk (its BatchNorm too unless `train_bn`); parameters unused by the trunk stay frozen."""
        self.freeze(pl_module.net.trunk, train_bn=self.train_bn)
        unused = set(getattr(pl_module.net, "unused_trunk_params", ()))
        for n, p in pl_module.net.trunk.named_parameters():  # unused parameters stay frozen even with train_bn
            if n in unused:
                p.requires_grad_(False)

    def finetune_function(self, pl_module: pl.LightningModule, epoch: int, optimizer: Optimizer) -> None:
        """From `unfreeze_at` on: make the chosen blocks trainable and, when their group is missing, add it at `lr`
        (setting the head's rate to `head_lr`, if given) and extend the schedulers to it."""
        if epoch < self.unfreeze_at:
            return
        params = self._params(pl_module)
        self._make_trainable(pl_module.net.trunk, params)
        in_opt = {id(p) for g in optimizer.param_groups for p in g["params"]}
        missing = [p for p in params if id(p) not in in_opt]
        if not missing:  # resumed after the switch: the group came back with the checkpoint
            return
        optimizer.add_param_group({"params": missing, "lr": float(self.lr)})
        if self.head_lr is not None:
            optimizer.param_groups[0]["lr"] = float(self.head_lr)
        self._sync_schedulers(pl_module, optimizer)
        log.info(
            "phase 2 at epoch %d: %d of %d trunk blocks trainable (%d parameters) at lr=%g, head lr=%g",
            epoch,
            self.k if self.k >= 0 else len(self.blocks(pl_module)),
            len(self.blocks(pl_module)),
            sum(p.numel() for p in missing),
            self.lr,
            optimizer.param_groups[0]["lr"],
        )

    @staticmethod
    def _make_trainable(trunk: nn.Module, params: list[nn.Parameter]) -> None:
        ids = {id(p) for p in params}
        for p in params:
            p.requires_grad_(True)
        for m in trunk.modules():  # BatchNorm whose parameters are all unfrozen trains again (statistics too)
            own = list(m.parameters(recurse=False))
            if isinstance(m, BATCH_NORMS) and own and all(id(p) in ids for p in own):
                m.track_running_stats = True
                m.train()

    @staticmethod
    def _sync_schedulers(pl_module: pl.LightningModule, optimizer: Optimizer) -> None:
        """A group added mid-training must be known to the schedulers (their per-group lists would be short)."""
        for config in pl_module.trainer.lr_scheduler_configs:
            s = config.scheduler
            if getattr(s, "optimizer", None) is not optimizer:
                continue
            for g in optimizer.param_groups:
                g.setdefault("initial_lr", g["lr"])
            if hasattr(s, "base_lrs"):  # LRScheduler: the new group starts from its own lr
                s.base_lrs = list(s.base_lrs) + [g["initial_lr"] for g in optimizer.param_groups[len(s.base_lrs) :]]
                set_last_lr(s, [g["lr"] for g in optimizer.param_groups])
            if hasattr(s, "min_lrs"):  # ReduceLROnPlateau
                s.min_lrs = list(s.min_lrs) + [s.min_lrs[-1]] * (len(optimizer.param_groups) - len(s.min_lrs))

    def _set_bn_modes(self, pl_module: pl.LightningModule) -> None:
        if self.train_bn:
            return
        for m in pl_module.net.trunk.modules():  # frozen BatchNorm: eval mode, running statistics do not move
            if isinstance(m, BATCH_NORMS) and not any(p.requires_grad for p in m.parameters()):
                m.eval()

    def on_train_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        # A mid-epoch restart skips on_train_epoch_start: apply the current phase here as well (idempotent).
        super().on_train_epoch_start(trainer, pl_module)
        self._set_bn_modes(pl_module)

    def on_train_epoch_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        super().on_train_epoch_start(trainer, pl_module)
        self._set_bn_modes(pl_module)
