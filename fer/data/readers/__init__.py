"""Dataset readers: each turns a dataset root, laid out as its official download arrives, into Samples.

`READERS` is the registry the catalogue (fer/data/catalogue.py) picks a source's reader from; it lives beside the
readers and imports only them.
"""

from __future__ import annotations

from collections.abc import Callable

from fer.data.readers.affectnet import read_affectnet
from fer.data.readers.augmented import read_augmented
from fer.data.readers.ckplus import read_ckplus
from fer.data.readers.fer2013 import read_fer2013
from fer.data.readers.folder import read_folder
from fer.data.readers.jaffe import read_jaffe
from fer.data.readers.kdef import read_kdef
from fer.data.readers.rafdb import read_rafdb
from fer.data.samples import Sample

READERS: dict[str, Callable[..., list[Sample]]] = {
    "kdef": read_kdef,
    "ckplus": read_ckplus,
    "jaffe": read_jaffe,
    "folder": read_folder,
    "fer2013": read_fer2013,
    "rafdb": read_rafdb,
    "affectnet": read_affectnet,
    "augmented": read_augmented,  # generate.py task=augment output (fer/data/offline_aug.py)
}


__all__ = ["READERS"]
