"""Models: the LightningModules (the classifier, the per-emotion DCGAN) over plain `nn.Module`s in
`components/` (the timm backbone with its head, the DCGAN networks, the on-device augmentation)."""

from fer.utils.lazy import lazy_exports

__all__, __getattr__ = lazy_exports(
    __name__,
    {
        "ClassifierModule": "fer.models.classifier",
        "GANModule": "fer.models.gan",
        "WarmupCosine": "fer.models.schedulers",
        "FERNet": "fer.models.components.backbone",
        "Generator": "fer.models.components.dcgan",
        "Discriminator": "fer.models.components.dcgan",
        "OnlineAugment": "fer.models.components.online_aug",
    },
)
