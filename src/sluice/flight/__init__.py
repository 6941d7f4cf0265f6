"""Arrow Flight SQL: the semantic layer as SQL for every tool with a Flight SQL driver."""
