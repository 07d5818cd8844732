"""Faces: image decoding, face detection and the face pipeline (no torch), shared by the data cache, GAN
evaluation and deployment so that a model sees in use what it saw in training."""
