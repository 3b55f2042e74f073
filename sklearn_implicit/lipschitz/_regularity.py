"""Regularity report of a fitted implicit estimator (DESIGN section 3)."""

from __future__ import annotations

from dataclasses import dataclass, field
from numbers import Integral, Real

import numpy as np
import torch
from sklearn.utils.validation import check_is_fitted

from ._measure import (
    _jacobian_norm,
    _row_norms,
    _torch_generator,
    contraction_modulus,
    lipschitz_in_x,
    necessity_bound,
)

__all__ = ["RegularityReport", "regularity_report"]


@dataclass
class RegularityReport:
    """Per-sample regularity of a learned operator at its fixed points.

    With ``u = Q_phi(x)`` the encoded input, ``z* = G(z*, u)`` and
    ``y* = Q_psi(z*)`` (the module's ``encode`` and ``read``):

    Attributes
    ----------
    mu : ndarray of shape (n_samples,)
        Contraction modulus of ``z -> G(z, Q_phi(x))`` at ``z*`` (spectral
        norm of ``dG/dz``, power iteration). Regular means ``mu < 1``.
    lip_x : ndarray of shape (n_samples,)
        Local Lipschitz constant of ``x -> G(z*, Q_phi(x))`` (spectral norm
        of the Jacobian in ``x``, in the space of the tensor given to the
        module). NaN where it is undefined: discrete inputs (tokens), or an
        explicit model (no single operator; ``mu`` is NaN there too).
    bound : ndarray of shape (n_samples,)
        The necessity bound ``lip_x / (1 - mu)`` on the local Lipschitz
        constant of ``x -> z*(x)`` (``inf`` where ``mu >= 1``).
    lipschitz_z : ndarray of shape (n_samples,)
        Measured local Lipschitz constant of ``x -> z*(x)``: largest ratio
        ``||z*(x') - z*(x)|| / ||x' - x||`` over the perturbed copies ``x'``
        that the estimator's default Lipschitz directions draw (size ``eps``).
    lip_decoder : ndarray of shape (n_samples,)
        Spectral norm of the decoder's Jacobian at ``z*`` (1 for none).
    bound_y : ndarray of shape (n_samples,)
        ``lip_decoder * bound``, the bound for ``y*``.
    lipschitz_y : ndarray of shape (n_samples,)
        Measured local Lipschitz constant of ``x -> y*(x)``, with the
        estimator's output distance.
    z_norm : ndarray of shape (n_samples,)
        ``||z*||`` (the linear-growth condition bounds ``lip_x`` by
        ``a + b ||z*||``).
    converged : ndarray of bool, shape (n_samples,)
        Whether the solve reached the estimator's ``tol``.
    eps : float
        Size of the perturbations of the measured constants.
    """

    mu: np.ndarray
    lip_x: np.ndarray
    bound: np.ndarray
    lipschitz_z: np.ndarray
    lip_decoder: np.ndarray
    bound_y: np.ndarray
    lipschitz_y: np.ndarray
    z_norm: np.ndarray
    converged: np.ndarray
    eps: float = field(default=1e-3)

    @property
    def n_samples(self):
        return len(self.mu)

    @property
    def is_contraction(self):
        """Per-sample flag ``mu < 1``."""
        return self.mu < 1.0

    def bound_holds(self, rtol=0.05):
        """Per-sample flag ``lipschitz_z <= (1 + rtol) * bound`` (finite differences are approximate)."""
        return self.lipschitz_z <= (1.0 + rtol) * self.bound + 1e-8

    def summary(self):
        """A dict of aggregate figures."""
        finite = np.isfinite(self.bound)
        return {
            "n_samples": self.n_samples,
            "mu_max": float(np.max(self.mu)),
            "mu_mean": float(np.mean(self.mu)),
            "fraction_contraction": float(np.mean(self.is_contraction)),
            "lip_x_max": float(np.max(self.lip_x)),
            "bound_max": float(np.max(self.bound[finite])) if finite.any() else float("inf"),
            "lipschitz_z_max": float(np.max(self.lipschitz_z)),
            "lipschitz_y_max": float(np.max(self.lipschitz_y)),
            "fraction_bound_holds": float(np.mean(self.bound_holds())),
            "fraction_converged": float(np.mean(self.converged)),
        }

    def __repr__(self):
        s = self.summary()
        return (
            f"RegularityReport(n_samples={s['n_samples']}, mu_max={s['mu_max']:.4g}, "
            f"lip_x_max={s['lip_x_max']:.4g}, bound_max={s['bound_max']:.4g}, "
            f"lipschitz_z_max={s['lipschitz_z_max']:.4g}, "
            f"fraction_bound_holds={s['fraction_bound_holds']:.3g})"
        )


def regularity_report(
    estimator,
    X,
    *,
    n_iter=None,
    tol=None,
    eps=1e-3,
    n_directions=4,
    n_power_iter=30,
    random_state=None,
):
    """Check that a fitted implicit estimator's operator is *regular*, sample by sample.

    At each sample's fixed point ``z*`` it measures the contraction modulus
    ``mu(x)`` of ``z -> G(z, Q_phi(x))`` and the Lipschitz constant
    ``Lip_x`` of ``x -> G(z*, Q_phi(x))`` (power iteration on Jacobian-vector
    products), the necessity bound ``Lip_x / (1 - mu)`` and, beside it, the
    measured local Lipschitz constant of ``x -> z*(x)`` and of
    ``x -> y*(x)`` (finite differences along random directions). For a
    regular operator ``mu < 1`` everywhere, and the measured constants stay
    below the bound; a steep ``y*`` shows up as ``mu`` close to 1.

    Parameters
    ----------
    estimator : BaseImplicitEstimator
        Any fitted implicit estimator; only its module protocol
        (``solve``, ``encode``, ``step``, ``read``), its default Lipschitz
        directions and its output distance are used.
    X : array-like
        Points at which to measure.
    n_iter, tol : int and float, optional
        Budget and tolerance of the fixed-point solves; default the
        estimator's.
    eps : float, default=1e-3
        Size of the perturbations of the measured constants (the
        estimator's default Lipschitz directions).
    n_directions : int, default=4
        Perturbed copies per sample for the measured constants.
    n_power_iter : int, default=30
        Power iterations for ``mu`` and ``Lip_x``.
    random_state : int, RandomState instance or None
        Seed of the directions and power-iteration starts.

    Returns
    -------
    report : RegularityReport

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn_implicit import ImplicitRegressor
    >>> from sklearn_implicit import regularity_report
    >>> rng = np.random.RandomState(0)
    >>> X = rng.uniform(-1, 1, size=(100, 2))
    >>> est = ImplicitRegressor(operator__width=8, max_epochs=5, random_state=0)
    >>> est = est.fit(X, X[:, 0] * X[:, 1])
    >>> rep = regularity_report(est, X[:10], random_state=0)
    >>> bool(rep.mu.max() < 1), bool(rep.bound_holds().all())
    (True, True)
    """
    check_is_fitted(estimator)
    if isinstance(eps, bool) or not isinstance(eps, Real) or not 0 < eps < np.inf:
        raise ValueError(f"eps must be a positive finite number, got {eps!r}.")
    if isinstance(n_directions, bool) or not isinstance(n_directions, Integral) or n_directions < 1:
        raise ValueError(f"n_directions must be an integer >= 1, got {n_directions!r}.")
    max_iter, tol_ = estimator._budget(n_iter, tol)
    if n_iter is not None and tol is None:
        tol_ = estimator.tol
    Xv = estimator._validate_X(X)
    module = estimator.net_.module_
    device = _device_of(module)
    x = estimator._to_tensor(Xv, device)
    gen = _torch_generator(random_state)
    n = estimator._n_rows(Xv)
    with torch.no_grad():
        y_star, z_star, info = module.solve(x, max_iter=max_iter, tol=tol_)
        u = module.encode(x)
    z_star = z_star.detach()
    iterated = getattr(module, "operator", None) is not None
    float_input = isinstance(x, torch.Tensor) and torch.is_floating_point(x)
    nan = np.full(n, np.nan)
    mu = lip_x = nan
    if iterated:
        mu = contraction_modulus(
            lambda z, uu: module.step(z, uu), z_star, u, n_power_iter=n_power_iter, random_state=gen
        )
        if float_input:
            lip_x = lipschitz_in_x(
                lambda z, xx: module.step(z, module.encode(xx)),
                z_star,
                x,
                n_power_iter=n_power_iter,
                random_state=gen,
            )
    lip_dec = _jacobian_norm(lambda z: module.read(z, u), z_star, n_power_iter, gen)
    # Measured constants along the estimator's own directions (in its input format).
    rng = np.random.RandomState(int(torch.randint(0, 2**31 - 1, (1,), generator=gen)))
    Xp, norms = estimator._default_directions()(Xv, float(eps), int(n_directions), rng)
    norms = np.asarray(norms, dtype=np.float64)
    r = len(norms) // max(n, 1)
    with torch.no_grad():
        y_p, z_p, _ = module.solve(estimator._to_tensor(Xp, device), max_iter=max_iter, tol=tol_)
    rep = lambda t: t.repeat((r,) + (1,) * (t.dim() - 1))  # noqa: E731 - direction-major copies
    dz = _row_norms(z_p - rep(z_star)).double().cpu().numpy()
    dy = estimator._output_distance(y_p, rep(y_star)).double().cpu().numpy()
    ratios_z = (dz / norms).reshape(r, n)
    ratios_y = (dy / norms).reshape(r, n)
    z_norm = _row_norms(z_star).double().cpu().numpy()
    bound = necessity_bound(lip_x, mu) if iterated and float_input else nan
    with np.errstate(invalid="ignore"):
        bound_y = np.where(np.isfinite(bound), lip_dec * bound, np.inf if float_input else np.nan)
    return RegularityReport(
        mu=np.asarray(mu, dtype=np.float64),
        lip_x=np.asarray(lip_x, dtype=np.float64),
        bound=np.asarray(bound, dtype=np.float64),
        lipschitz_z=ratios_z.max(axis=0),
        lip_decoder=np.asarray(lip_dec, dtype=np.float64),
        bound_y=bound_y,
        lipschitz_y=ratios_y.max(axis=0),
        z_norm=z_norm,
        converged=np.asarray(info.converged, dtype=bool),
        eps=float(eps),
    )


def _device_of(module):
    for tensor in module.parameters():
        return tensor.device
    for tensor in module.buffers():
        return tensor.device
    return torch.device("cpu")
