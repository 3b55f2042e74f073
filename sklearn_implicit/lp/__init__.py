"""Linear programs: an implicit bipartite GNN that predicts optimal solutions.

The paper's operations-research case: :class:`LPGNNRegressor` (implicit, or
with ``architecture="explicit"`` the paper's explicit baseline) learns the map
from a linear program, held in a :class:`LinearPrograms` container, to its optimal
solution; :func:`lp_relative_error` is the paper's error metric and
:func:`sklearn_implicit.datasets.make_linear_programs` generates data.
"""

from ._container import LinearPrograms
from ._data import make_linear_programs
from ._estimator import LPGNNRegressor
from ._metrics import lp_relative_error

__all__ = ["LPGNNRegressor", "LinearPrograms", "lp_relative_error", "make_linear_programs"]
