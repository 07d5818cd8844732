"""`python -m fer.report`: a sweep's finished runs as the paper's tables (fer/reporting/report.py)."""

from fer.reporting.report import main

__all__ = ["main"]

if __name__ == "__main__":
    from fer.errors import cli_main

    cli_main(main)
