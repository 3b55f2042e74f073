"""sklearn-implicit: implicit (deep-equilibrium) models as scikit-learn estimators."""

from __future__ import annotations

from ._base import BaseImplicitEstimator
from ._budget import BudgetCurve
from ._classifier import ImplicitClassifier
from ._module import FixedDepthModule, ImplicitModule
from ._regressor import ImplicitRegressor
from .lipschitz import LipschitzCurve
from .lipschitz._regularity import RegularityReport, regularity_report
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
    "BudgetCurveDisplay": "sklearn_implicit.display",
}


def _available(module):
    import importlib.util

    return importlib.util.find_spec(module) is not None


def __getattr__(name):
    if name in _LAZY and _available(_LAZY[name]):
        import importlib

        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'sklearn_implicit' has no attribute {name!r}")


def __dir__():
    return sorted(set(globals()) | {k for k, m in _LAZY.items() if _available(m)})


__all__ = [
    "BaseImplicitEstimator",
    "BudgetCurve",
    "FixedDepthModule",
    "ImplicitClassifier",
    "ImplicitModule",
    "RegularityReport",
    "ImplicitRegressor",
    "LipschitzCurve",
    "SolverInfo",
    "__version__",
    "regularity_report",
]


__all__ += sorted(k for k, m in _LAZY.items() if _available(m))
