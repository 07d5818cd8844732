"""The engine behind train.py and generate.py: a job's lifecycle, config checks, the config resolvers, Hydra
callbacks, atomic checkpoints, resuming, and the results and outputs a run writes."""
