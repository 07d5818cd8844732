"""FER framework: data augmentation and transfer learning for facial expression recognition.

Importing `fer` imports nothing but the version; the entry points import what they use (train.py and
generate.py register the config resolvers from fer/runs/resolvers.py themselves).
"""

__version__ = "0.1.0"
