"""Datasets, faces, cache, augmentation, variants, splits and the DataModule."""
