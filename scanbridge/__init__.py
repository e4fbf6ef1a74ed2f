"""The `scanbridge` command: one console script, a subcommand per process or operator task."""
