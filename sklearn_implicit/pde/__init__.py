"""Steady Navier–Stokes: the implicit Fourier neural operator.

The paper's scientific-computing case: :class:`FNORegressor` maps forcing
fields to the steady vorticity as the fixed point of Fourier layers
(:class:`FourierOperator`, built from :class:`FourierLayer` and
:class:`SpectralConv2d`) with input injection; ``architecture="explicit"``
is the explicit FNO of the same width. Data come from
:func:`sklearn_implicit.datasets.make_navier_stokes`; quality is measured
with :func:`relative_l2_error`.
"""

from ._data import make_navier_stokes
from ._estimator import FNORegressor
from ._metrics import RelativeL2Loss, relative_l2_error
from ._operators import (
    FourierLayer,
    FourierOperator,
    GridLifting,
    Pointwise,
    PointwiseProjection,
    fourier_layers,
)
from ._spectral import SpectralConv2d

__all__ = [
    "FNORegressor",
    "FourierLayer",
    "FourierOperator",
    "GridLifting",
    "Pointwise",
    "PointwiseProjection",
    "RelativeL2Loss",
    "SpectralConv2d",
    "fourier_layers",
    "make_navier_stokes",
    "relative_l2_error",
]
