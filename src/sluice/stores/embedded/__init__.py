"""The embedded stores of a one-process server: SQLite (jobs, tokens) and local disk (results,
the result cache), all under ``server.state_dir``."""
