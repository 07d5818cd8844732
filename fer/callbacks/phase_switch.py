"""Two-phase transfer learning as a Lightning `BaseFinetuning` callback.

Phase 1 (epochs < `unfreeze_at`): the trunk is frozen, only the head trains. Phase 2: the last `k` blocks of
the trunk are unfrozen and join the optimizer at `lr` (lower than phase 1). Blocks are the trunk's
parameterised layer groups from timm's `group_matcher`, so `k` always unfreezes real parameters.
"""

from __future__ import annotations

import logging

import pytorch_lightning as pl
from pytorch_lightning.callbacks import BaseFinetuning
from timm.models import group_parameters
from torch import nn
from torch.nn.modules.batchnorm import _BatchNorm

log = logging.getLogger(__name__)


def trunk_blocks(trunk: nn.Module) -> list[list[str]]:
    """Parameter names of the trunk, grouped into blocks in forward order (only groups with parameters)."""
    named = dict(trunk.named_parameters())
    if hasattr(trunk, "group_matcher"):
        groups = group_parameters(trunk, trunk.group_matcher(coarse=False))
        blocks = [[n for n in names if n in named] for _, names in sorted(groups.items())]
    else:  # plain modules: one block per parameterised child
        blocks = [[f"{c}.{n}" for n, _ in m.named_parameters()] for c, m in trunk.named_children()]
    return [b for b in blocks if b]


class PhaseSwitch(BaseFinetuning):
    def __init__(self, unfreeze_at: int = 10, k: int = 2, lr: float = 1e-5, head_lr: float | None = None,
                 train_bn: bool = False):
        """`k=-1` unfreezes every block; `head_lr`, when set, also lowers the head's learning rate in phase 2."""
        super().__init__()
        self.unfreeze_at, self.k, self.lr, self.head_lr, self.train_bn = unfreeze_at, k, lr, head_lr, train_bn

    def blocks_to_unfreeze(self, pl_module: pl.LightningModule) -> list[str]:
        blocks = trunk_blocks(pl_module.net.trunk)
        chosen = blocks if self.k < 0 else blocks[len(blocks) - self.k:] if self.k else []
        return [n for b in chosen for n in b]

    def _modules(self, pl_module) -> list[nn.Module]:
        """Smallest modules owning the chosen parameters (so BatchNorm layers inside them are unfrozen too)."""
        trunk = pl_module.net.trunk
        names = set(self.blocks_to_unfreeze(pl_module))
        owners = {n.rsplit(".", 1)[0] for n in names}
        return [m for mn, m in trunk.named_modules() if mn in owners]

    def freeze_before_training(self, pl_module: pl.LightningModule) -> None:
        self.freeze(pl_module.net.trunk, train_bn=self.train_bn)

    def finetune_function(self, pl_module: pl.LightningModule, epoch: int, optimizer) -> None:
        if epoch < self.unfreeze_at:
            return
        modules = self._modules(pl_module)
        if epoch == self.unfreeze_at and not self._restored_after_switch(optimizer, modules):
            self.unfreeze_and_add_param_group(modules, optimizer, lr=self.lr, train_bn=True)
            if self.head_lr is not None:
                optimizer.param_groups[0]["lr"] = self.head_lr
            n = sum(p.numel() for m in modules for p in m.parameters())
            log.info("phase 2 at epoch %d: unfroze %d modules (%d parameters) at lr=%g", epoch, len(modules), n, self.lr)
        else:
            # Resuming after the switch: the optimizer already holds the group (restored from the checkpoint),
            # but `freeze_before_training` froze the parameters again.
            self.make_trainable(modules)

    @staticmethod
    def _restored_after_switch(optimizer, modules) -> bool:
        in_opt = {id(p) for g in optimizer.param_groups for p in g["params"]}
        return any(id(p) in in_opt for m in modules for p in m.parameters())

    def on_train_epoch_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        super().on_train_epoch_start(trainer, pl_module)
        if not self.train_bn:  # frozen BatchNorm stays in eval mode so its running statistics do not move
            for m in pl_module.net.trunk.modules():
                if isinstance(m, _BatchNorm) and not any(p.requires_grad for p in m.parameters()):
                    m.eval()
