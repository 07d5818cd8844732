"""The class-conditional GAN: the class steers the generator and the projection discriminator, spectral norm
bounds the discriminator, one epoch trains both networks under either loss, and a checkpoint alone rebuilds it."""

from __future__ import annotations

import pytest
import pytorch_lightning as pl
import torch
from torch.utils.data import DataLoader, TensorDataset

from fer.models.components.conditional_gan import ConditionalGenerator, ProjectionDiscriminator
from fer.models.conditional_gan import ConditionalGANModule

TINY_NETS = {
    "generator": {"_target_": "fer.models.components.conditional_gan.ConditionalGenerator", "features": 8},
    "discriminator": {"_target_": "fer.models.components.conditional_gan.ProjectionDiscriminator", "features": 8},
}


def trainer(**kw) -> pl.Trainer:
    return pl.Trainer(
        accelerator="cpu",
        logger=False,
        enable_checkpointing=False,
        enable_progress_bar=False,
        enable_model_summary=False,
        **kw,
    )


@pytest.mark.parametrize("size", [32, 64])
def test_the_class_steers_both_networks(size):
    torch.manual_seed(0)
    g = ConditionalGenerator(latent_dim=16, image_size=size, channels=1, features=8).eval()
    d = ProjectionDiscriminator(image_size=size, channels=1, features=8).eval()
    z = torch.randn(4, 16)
    happy, sad = g(z, torch.full((4,), 3)), g(z, torch.full((4,), 5))
    assert happy.shape == (4, 1, size, size) and happy.abs().max() <= 1
    assert not torch.allclose(happy, sad)  # same noise, another class: another image
    assert torch.equal(g(z)[1], g(z[1:2].repeat(4, 1), torch.full((4,), 1))[0])  # no labels: image i has class i % 7
    x = torch.rand(4, 1, size, size) * 2 - 1
    assert d(x, torch.full((4,), 3)).shape == (4,)
    assert not torch.allclose(d(x, torch.full((4,), 3)), d(x, torch.full((4,), 5)))  # the projection term


def test_discriminator_weights_are_spectrally_normalised():
    d = ProjectionDiscriminator(image_size=32, channels=1, features=8)
    layers = [m for m in d.modules() if isinstance(m, (torch.nn.Conv2d, torch.nn.Linear, torch.nn.Embedding))]
    assert layers and all(torch.nn.utils.parametrize.is_parametrized(m, "weight") for m in layers)
    assert not any(isinstance(m, torch.nn.BatchNorm2d) for m in d.modules())
    x = torch.rand(8, 1, 32, 32)
    for _ in range(20):  # power iterations converge in training mode
        d(x, torch.zeros(8, dtype=torch.long))
    conv = d.trunk[0]
    sigma = torch.linalg.matrix_norm(conv.weight.detach().flatten(1), ord=2)
    assert abs(float(sigma) - 1) < 0.05


@pytest.mark.parametrize("loss", ["hinge", "bce"])
def test_one_epoch_trains_both_networks_and_reloads(tmp_path, loss):
    pl.seed_everything(0)
    x, y = torch.rand(24, 1, 32, 32) * 2 - 1, torch.arange(24) % 7
    model = ConditionalGANModule(image_size=32, channels=1, grid_size=7, loss=loss, **TINY_NETS)
    before = {k: v.clone() for k, v in model.state_dict().items()}
    t = trainer(max_epochs=1)
    t.fit(model, DataLoader(TensorDataset(x, y), batch_size=8))
    assert t.global_step == 2 * 3  # one D and one G step per batch
    for net in ("generator", "discriminator"):
        keys = [k for k in before if k.startswith(net) and k.endswith(("weight", "weight.original"))]
        assert keys and all(not torch.equal(before[k], model.state_dict()[k]) for k in keys), f"{net} did not train"
    assert all(torch.isfinite(t.callback_metrics[k]) for k in ("train/loss_d", "train/loss_g", "train/d_fake"))
    t.save_checkpoint(tmp_path / "c.ckpt")
    loaded = ConditionalGANModule.load_from_checkpoint(tmp_path / "c.ckpt", map_location="cpu")
    assert loaded.hparams.loss == loss and loaded.hparams.num_classes == 7
    first = loaded.sample(5, seed=1, label=2)
    assert torch.equal(first, model.sample(5, seed=1, label=2))  # deterministic, and the checkpoint is complete
    assert not torch.equal(first, loaded.sample(5, seed=1, label=4))


def test_losses_have_the_right_signs():
    model = ConditionalGANModule(image_size=32, channels=1, grid_size=1, **TINY_NETS)
    good, bad = torch.full((4,), 3.0), torch.full((4,), -3.0)  # logits: confident real / confident fake
    assert float(model.losses(good, bad, generator_step=False)) == 0.0  # hinge: both beyond the margin
    assert float(model.losses(bad, good, generator_step=False)) == 8.0
    assert float(model.losses(None, good, generator_step=True)) < float(model.losses(None, bad, generator_step=True))
    with pytest.raises(ValueError, match="loss='wgan'"):
        ConditionalGANModule(loss="wgan", **TINY_NETS)
