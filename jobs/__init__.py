"""Entry points: the `stylebatch` CLI and the same commands as `python -m jobs.<command>`."""
