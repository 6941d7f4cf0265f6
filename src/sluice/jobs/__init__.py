"""Jobs: the state machine, the SQLite job store and result files, the executor and waiters."""
