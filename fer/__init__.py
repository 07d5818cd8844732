"""FER framework: data augmentation and transfer learning for facial expression recognition."""

__version__ = "0.1.0"
