"""Foundations every other package may use: atomic writes and disk space (`io`), worker processes and file
locks (`procs`), and the one place that touches another library's private state (`compat`)."""
