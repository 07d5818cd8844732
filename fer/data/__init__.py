"""Data: dataset readers and the catalogue of sources, the face cache, offline augmentation, GAN sample
manifests, subject-independent splits and protocols, and the Lightning DataModule that serves them."""

from fer.utils.lazy import lazy_exports

__all__, __getattr__ = lazy_exports(
    __name__,
    {
        "READERS": "fer.data.readers",
        "Sample": "fer.data.samples",
        "Source": "fer.data.catalogue",
        "MissingSourceError": "fer.data.catalogue",
        "entry": "fer.data.catalogue",
        "select": "fer.data.catalogue",
        "preflight": "fer.data.catalogue",
        "read_dataset": "fer.data.catalogue",
        "load_source": "fer.data.catalogue",
        "PreparedSet": "fer.data.cache",
        "prepare": "fer.data.cache",
        "AugmentSettings": "fer.data.offline_aug",
        "augment_to_folder": "fer.data.offline_aug",
        "read_manifest": "fer.data.gan_manifest",
        "check_no_leakage": "fer.data.splits",
        "LeakageError": "fer.data.splits",
        "CrossDatabase": "fer.data.protocols",
        "SubjectKFold": "fer.data.protocols",
        "OfficialSplit": "fer.data.protocols",
        "FERDataModule": "fer.data.datamodule",
    },
)
