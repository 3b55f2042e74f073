"""sklearn-implicit: implicit (deep-equilibrium) models as scikit-learn estimators."""

from __future__ import annotations

from ._estimator import BaseImplicitEstimator, ImplicitRegressor
from ._module import ImplicitModule
from ._regularity import RegularityReport, regularity_report
from .lipschitz import LipschitzCurve
from .solvers import SolverInfo

__version__ = "0.1.0"

# Domain estimators are imported lazily so that ``import sklearn_implicit`` stays light.
_LAZY = {
    "DeblurRegressor": "sklearn_implicit.imaging",
    "FNORegressor": "sklearn_implicit.pde",
    "LPGNNRegressor": "sklearn_implicit.lp",
    "LoopedTransformerClassifier": "sklearn_implicit.looped",
    "LipschitzCurveDisplay": "sklearn_implicit.display",
    "IterationCurveDisplay": "sklearn_implicit.display",
}


def __getattr__(name):
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'sklearn_implicit' has no attribute {name!r}")


def __dir__():
    return sorted(set(globals()) | set(_LAZY))

__all__ = [
    "BaseImplicitEstimator",
    "DeblurRegressor",
    "FNORegressor",
    "ImplicitModule",
    "IterationCurveDisplay",
    "LPGNNRegressor",
    "LipschitzCurveDisplay",
    "LoopedTransformerClassifier",
    "RegularityReport",
    "ImplicitRegressor",
    "LipschitzCurve",
    "SolverInfo",
    "__version__",
    "regularity_report",
]
