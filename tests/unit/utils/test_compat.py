"""fer/utils/compat.py: each private access still works with the installed libraries (fails loudly on an upgrade)."""

from __future__ import annotations

import torch

from fer.utils.compat import set_last_lr


def test_set_last_lr_is_what_get_last_lr_reports():
    opt = torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=0.1)
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=4)
    opt.add_param_group({"params": [torch.nn.Parameter(torch.zeros(1))], "lr": 0.01})
    set_last_lr(sched, [g["lr"] for g in opt.param_groups])
    assert sched.get_last_lr() == [0.1, 0.01]
    plateau = torch.optim.lr_scheduler.ReduceLROnPlateau(opt)
    set_last_lr(plateau, [0.5, 0.05])
    assert plateau.get_last_lr() == [0.5, 0.05]
