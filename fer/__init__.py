"""FER framework: data augmentation and transfer learning for facial expression recognition."""

__version__ = "0.1.0"

from fer import sweep as _sweep  # noqa: E402,F401  registers the `fer_job_dir` resolver (hydra.sweep.subdir) in every job process
