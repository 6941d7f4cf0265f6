"""Pure, vectorised transforms of a query's Arrow result after its SQL ran.

Fill, table calculations, pivots and totals, as functions over ``pyarrow.Table``: no I/O, no
engine. Totals are computed by SQL (so averages and distinct counts stay correct) and only placed
here. Each pass documents its semantics in its module's docstring.
"""

from sluice.compiler.types import FillSpec, PostPlan
from sluice.model.grains import FILL_GRAINS
from sluice.postquery.calcs import PIVOT_REASON
from sluice.postquery.fill import MAX_FILLED_ROWS
from sluice.postquery.plan import PostResult, finish, needs_post
from sluice.postquery.totals import (
    COLUMN_TOTAL,
    COLUMN_TOTAL_INDICATOR,
    NO_TOTALS,
    ROW_TOTAL_PREFIX,
    Totals,
)

__all__ = [
    "COLUMN_TOTAL",
    "COLUMN_TOTAL_INDICATOR",
    "FILL_GRAINS",
    "MAX_FILLED_ROWS",
    "NO_TOTALS",
    "PIVOT_REASON",
    "ROW_TOTAL_PREFIX",
    "FillSpec",
    "PostPlan",
    "PostResult",
    "Totals",
    "finish",
    "needs_post",
]
