"""FER framework: data augmentation and transfer learning for facial expression recognition."""

__version__ = "0.1.0"

try:  # registers the config's resolvers in every job process (train.py, generate.py, sweeps, the tests)
    from fer import resolvers as _resolvers  # noqa: F401
except ModuleNotFoundError as e:
    # A deploy install (onnxruntime, OpenCV, NumPy: `fer.predict --model`) composes no config and has no Hydra.
    if e.name not in ("omegaconf", "hydra"):
        raise
