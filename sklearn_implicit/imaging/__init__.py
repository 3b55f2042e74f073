"""Image deblurring: plug-and-play PGD/HQS operators with a learned denoiser.

The paper's imaging case: :class:`DeblurRegressor` predicts a sharp image as
the fixed point of ``G(y, x) = H(data_step(y, x))`` with the known blur
physics (:class:`BlurFFT`) and a learned residual CNN denoiser
(:class:`ResidualDenoiser`); ``architecture="explicit"`` is the baseline that
applies the same denoiser once (:class:`ObservationDenoiser`). Data come from
:func:`sklearn_implicit.datasets.make_blurred_images`; quality is measured
with :func:`peak_signal_noise_ratio`. Images come as flat rows, ``(n, H, W)``
or ``(n, C, H, W)`` arrays; a model trained on small crops deblurs images of
any size at least the kernel's, in the layout it is given.
"""

from ._data import make_blurred_images
from ._estimator import DeblurRegressor
from ._metrics import peak_signal_noise_ratio
from ._operators import ObservationDenoiser, PnPOperator, ResidualDenoiser
from ._physics import BlurFFT, blur_kernel, gaussian_kernel, motion_kernel

__all__ = [
    "BlurFFT",
    "DeblurRegressor",
    "ObservationDenoiser",
    "PnPOperator",
    "ResidualDenoiser",
    "blur_kernel",
    "gaussian_kernel",
    "make_blurred_images",
    "motion_kernel",
    "peak_signal_noise_ratio",
]
