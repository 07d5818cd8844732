"""fer.engine.overrides: unknown override keys found before Hydra starts, with the nearest existing key."""

from __future__ import annotations

from pathlib import Path

from fer.engine.overrides import unknown_keys

CONF = Path(__file__).resolve().parents[3] / "conf"


def test_every_unknown_key_of_a_sweep_is_listed_with_the_nearest_one():
    args = ["-m", "seed=1,2", "trainer.max_epoch=2", "data=kdef_ol", "data.offline_aug.copiez=3"]
    assert unknown_keys(CONF, "train.yaml", args) == [
        "trainer.max_epoch=2: no such key in the configuration; did you mean trainer.max_epochs?",
        "data.offline_aug.copiez=3: no such key in the configuration; did you mean data.offline_aug.copies?",
    ]


def test_valid_command_lines_and_other_errors_are_left_to_hydra():
    for args in (
        ["experiment=demo", "trainer.max_epochs=3", "+trainer.limit_train_batches=2"],  # an append is allowed
        ["-m", "backbone=vgg16,resnet10t", "backbone.input_size=64", "seed=1,2"],  # keys of swept groups
        ["backbone=not_a_backbone"],  # Hydra names the group's options
        ["--cfg", "job", "trainer.max_epoch=2"],  # Hydra's own flags: its handling
    ):
        assert unknown_keys(CONF, "train.yaml", args) == [], args
