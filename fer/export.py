"""`python -m fer.export`: a checkpoint as a self-describing ONNX model (fer/deploy/export.py)."""

from fer.deploy.export import main

__all__ = ["main"]

if __name__ == "__main__":
    from fer.errors import cli_main

    cli_main(main)
