"""Generation tasks run by `generate.py task=<name>`: each module has `run(cfg) -> dict`."""
