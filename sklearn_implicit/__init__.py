"""sklearn-implicit: implicit (deep-equilibrium) models as scikit-learn estimators."""

from __future__ import annotations

from ._estimator import BaseImplicitEstimator, ImplicitRegressor
from ._module import ImplicitModule
from .lipschitz import LipschitzCurve
from .solvers import SolverInfo

__version__ = "0.1.0"

__all__ = [
    "BaseImplicitEstimator",
    "ImplicitModule",
    "ImplicitRegressor",
    "LipschitzCurve",
    "SolverInfo",
    "__version__",
]
