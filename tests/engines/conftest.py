"""The warehouse fixtures (PostgreSQL, Spark) live in tests/conftest.py: the oracle and soundness
suites run on them too."""
