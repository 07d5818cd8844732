"""Runs: the record a finished run leaves (`results.json`), sweep folders and status, and a run's description of
itself that its checkpoints carry."""
