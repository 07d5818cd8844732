"""The parts of `python -m fer.report` beyond the main table (fer/reporting/report.py): per-run figures from the
predictions files (`per_run`), the per-group table (`groups`), paired comparisons (`compare`), the paper's
reference figures (`paper`), the bar chart (`chart`) and W&B logging (`wandb_log`). Statistics are
fer/evaluation/stats.py's; these modules select runs, call them and render Markdown and CSV."""
