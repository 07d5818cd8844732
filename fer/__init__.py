"""FER framework: data augmentation and transfer learning for facial expression recognition."""

__version__ = "0.1.0"

from fer import resolvers as _resolvers  # noqa: F401  registers the config's resolvers in every job process
