"""The semantic model: YAML folder -> validated, frozen ``SemanticModel``."""

from sluice.model.loader import check_model, load_model
from sluice.model.types import Dimension, Measure, Relationship, SemanticModel, Topic, View

__all__ = [
    "Dimension",
    "Measure",
    "Relationship",
    "SemanticModel",
    "Topic",
    "View",
    "check_model",
    "load_model",
]
