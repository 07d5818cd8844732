"""FER framework: data augmentation and transfer learning for facial expression recognition."""

__version__ = "0.1.0"

from omegaconf import OmegaConf as _OmegaConf

# `${max:${backbone.input_size},${backbone.min_input_size}}` in conf/data: the image size never goes below what
# the backbone accepts (e.g. the 64 px demo with inception_v3, whose trunk needs 75 px).
if not _OmegaConf.has_resolver("max"):
    _OmegaConf.register_new_resolver("max", lambda *xs: max(xs))

from fer import sweep as _sweep  # noqa: E402,F401  registers the `fer_job_dir` resolver (hydra.sweep.subdir) in every job process
