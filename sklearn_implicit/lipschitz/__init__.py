"""Measuring the complexity of iterate maps: empirical Lipschitz constants.

The paper's prediction is that ``L_t``, the empirical Lipschitz constant of
``x -> y_t(x)``, grows with the budget ``t`` while accuracy improves. Every
estimator's ``lipschitz_curve`` measures it from one trajectory, perturbing
its inputs with a *direction strategy* (:class:`GaussianDirections`,
:class:`FourierModes`, :class:`LPBlocks`, :class:`TokenSubstitutions`,
:class:`GivenPairs`, or any callable with their signature); the functions
here measure Lipschitz constants of any map or operator.
"""

from __future__ import annotations

from ._curve import LipschitzCurve, RatioCollector, reduce_ratios
from ._directions import (
    FourierModes,
    GaussianDirections,
    GivenPairs,
    LPBlocks,
    TokenSubstitutions,
)
from ._measure import (
    contraction_modulus,
    empirical_lipschitz,
    lipschitz_in_x,
    necessity_bound,
)

__all__ = [
    "FourierModes",
    "GaussianDirections",
    "GivenPairs",
    "LPBlocks",
    "LipschitzCurve",
    "RatioCollector",
    "TokenSubstitutions",
    "contraction_modulus",
    "empirical_lipschitz",
    "lipschitz_in_x",
    "necessity_bound",
    "reduce_ratios",
]
