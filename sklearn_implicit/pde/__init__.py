"""Steady Navier–Stokes: the implicit Fourier neural operator.

The paper's scientific-computing case: :class:`FNORegressor` maps forcing
fields to the steady vorticity as the fixed point of Fourier layers
(:class:`FourierOperator` built from :class:`SpectralConv2d`) with input
injection; ``architecture="explicit"`` is the explicit FNO of the same
width. Data come from :func:`sklearn_implicit.datasets.make_navier_stokes`;
quality is measured with :func:`relative_l2_error`.
"""

from ._data import make_navier_stokes
from ._estimator import FNORegressor, RelativeL2Loss, relative_l2_error
from ._operators import FourierOperator, GridLifting, Pointwise, PointwiseProjection
from ._spectral import SpectralConv2d

__all__ = [
    "FNORegressor",
    "FourierOperator",
    "GridLifting",
    "Pointwise",
    "PointwiseProjection",
    "RelativeL2Loss",
    "SpectralConv2d",
    "make_navier_stokes",
    "relative_l2_error",
]
