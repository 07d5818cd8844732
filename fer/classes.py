"""The 7 expression classes, in the one order used everywhere, and each dataset's codes for them."""

from __future__ import annotations

CLASSES: tuple[str, ...] = ("angry", "disgust", "fear", "happy", "neutral", "sad", "surprise")
CLASS_TO_INDEX = {name: i for i, name in enumerate(CLASSES)}

# KDEF and JAFFE file-name codes (JAFFE uses FE for fear, KDEF uses AF "afraid").
KDEF_CODES = {
    "AF": "fear",
    "AN": "angry",
    "DI": "disgust",
    "HA": "happy",
    "NE": "neutral",
    "SA": "sad",
    "SU": "surprise",
}
JAFFE_CODES = {
    "AN": "angry",
    "DI": "disgust",
    "FE": "fear",
    "HA": "happy",
    "NE": "neutral",
    "SA": "sad",
    "SU": "surprise",
}
# CK+ emotion label codes; 2 (contempt) has no place among the 7 classes.
CKPLUS_CODES = {0: "neutral", 1: "angry", 2: "contempt", 3: "disgust", 4: "fear", 5: "happy", 6: "sad", 7: "surprise"}
# FER2013 CSV `emotion` column order.
FER2013_CODES = {0: "angry", 1: "disgust", 2: "fear", 3: "happy", 4: "sad", 5: "surprise", 6: "neutral"}

# Folder names accepted for per-emotion folders (our names, KDEF/JAFFE codes, common synonyms).
FOLDER_ALIASES = {
    **{c: c for c in CLASSES},
    **{k.lower(): v for k, v in KDEF_CODES.items()},
    **{k.lower(): v for k, v in JAFFE_CODES.items()},
    "anger": "angry",
    "disgusted": "disgust",
    "afraid": "fear",
    "fearful": "fear",
    "happiness": "happy",
    "sadness": "sad",
    "surprised": "surprise",
}


def class_index(name: str) -> int:
    """Index of a class name; raises a ValueError naming the valid classes."""
    try:
        return CLASS_TO_INDEX[name]
    except KeyError:
        raise ValueError(f"unknown class {name!r}; expected one of {', '.join(CLASSES)}") from None
