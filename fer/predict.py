"""`python -m fer.predict`: face boxes and class probabilities from a checkpoint or an exported model
(fer/deploy/predict.py)."""

from fer.deploy.predict import main

__all__ = ["main"]

if __name__ == "__main__":
    from fer.errors import cli_main

    cli_main(main)
