"""The model service: where a model's versions come from (files, the schema layer's snapshot)."""
