"""Evaluation: statistics over runs and test images (intervals, paired comparisons, group metrics), per-image
predictions files, and calibration (ECE, temperature scaling, reliability diagrams)."""

from fer.utils.lazy import lazy_exports

__all__, __getattr__ = lazy_exports(
    __name__,
    {
        "Predictions": "fer.evaluation.predictions",
        "load_run_predictions": "fer.evaluation.predictions",
        "expected_calibration_error": "fer.evaluation.calibration",
        "fit_temperature": "fer.evaluation.calibration",
        "reliability_diagram": "fer.evaluation.calibration",
        "Interval": "fer.evaluation.stats",
        "Comparison": "fer.evaluation.stats",
        "bootstrap_scores": "fer.evaluation.stats",
        "summarize": "fer.evaluation.stats",
        "compare_paired": "fer.evaluation.stats",
        "compare_images": "fer.evaluation.stats",
        "compare_unpaired": "fer.evaluation.stats",
        "group_report": "fer.evaluation.stats",
    },
)
