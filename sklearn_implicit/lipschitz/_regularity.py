"""Regularity report of a fitted implicit estimator (DESIGN section 3)."""

from __future__ import annotations

from dataclasses import dataclass, field
from numbers import Integral, Real

import numpy as np
import torch
from sklearn.utils.validation import check_is_fitted

from ._measure import (
    _jacobian_norm,
    _jvp_vjp,
    _row_norms,
    _torch_generator,
    _unit_like,
    contraction_modulus,
    lipschitz_in_x,
    necessity_bound,
)

__all__ = ["RegularityReport", "regularity_report"]

#: Default cap on the steps of the report's solve (it stops earlier at ``tol``).
_MAX_ITER = 1000


@dataclass
class RegularityReport:
    """Per-sample regularity of a learned operator at its fixed points.

    With ``u = Q_phi(x)`` the encoded input, ``z* = G(z*, u)`` and
    ``y* = Q_psi(z*)`` (the module's ``encode`` and ``read``), solved to the
    report's tolerance:

    ``mu`` and ``radius`` answer two questions about ``J = dG/dz`` at ``z*``.
    ``mu = ||J||_2`` is the worst-case contraction of *one* step near ``z*``:
    ``||G(z) - G(z*)|| <~ mu ||z - z*||``, an upper bound, and the modulus of
    the necessity bound. ``radius = max |eigenvalue of J|`` is the
    *asymptotic* rate: ``||z_k - z*||`` shrinks like ``radius^k`` for large
    ``k`` whatever ``mu`` is. Always ``radius <= mu``, with equality for a
    normal ``J`` (symmetric, orthogonal, ...); a non-normal ``J`` can have
    ``radius < 1 <= mu``: the iteration may grow for a few steps, then still
    converges at the rate ``radius``. ``step_ratio`` shows it in the solve.

    Attributes
    ----------
    mu : ndarray of shape (n_samples,)
        Contraction modulus of ``z -> G(z, Q_phi(x))`` at ``z*`` (spectral
        norm of ``dG/dz``, power iteration). Regular means ``mu < 1``.
    radius : ndarray of shape (n_samples,)
        Spectral-radius estimate of ``dG/dz`` at ``z*``: the growth rate of
        the power iteration ``v -> J v`` over its second half,
        ``(||J^k v|| / ||J^(k/2) v||)^(2/k)`` with ``k = n_power_iter``
        (Jacobian-vector products). It approaches ``max |lambda|`` as the
        iterate aligns with the dominant eigenvectors (slowly when the two
        largest ``|lambda|`` are close; a complex pair is averaged over the
        window). ``radius < 1`` means the solve converges near ``z*``. NaN
        for an explicit model.
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
        Whether the solve reached the report's ``tol`` (within its
        ``n_iter``) before linearising.
    eps : float
        Size of the perturbations of the measured constants.
    step_ratio : ndarray of shape (n_steps - 1, n_samples)
        The solve's step ratios ``||z_k - z_{k-1}|| / ||z_{k-1} - z_{k-2}||``
        for ``k = 2..n_steps`` (NaN once a sample has stopped). For Picard
        their late values approach ``radius``; a ratio above 1 early on with
        ``radius < 1`` is the transient growth of a non-normal ``J``. Empty
        for an explicit model.
    tol : float
        The tolerance of the solve.
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
    radius: np.ndarray = field(default=None)
    step_ratio: np.ndarray = field(default=None, repr=False)
    tol: float = field(default=float("nan"))

    def __post_init__(self):
        n = len(self.mu)
        if self.radius is None:
            self.radius = np.full(n, np.nan)
        if self.step_ratio is None:
            self.step_ratio = np.zeros((0, n))

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
            "radius_max": float(np.max(self.radius)),
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
            f"radius_max={s['radius_max']:.4g}, "
            f"lip_x_max={s['lip_x_max']:.4g}, bound_max={s['bound_max']:.4g}, "
            f"lipschitz_z_max={s['lipschitz_z_max']:.4g}, "
            f"fraction_bound_holds={s['fraction_bound_holds']:.3g})"
        )


def regularity_report(
    estimator,
    X,
    *,
    n_iter=None,
    tol=1e-6,
    eps=1e-3,
    n_directions=4,
    n_power_iter=30,
    random_state=None,
):
    """Check that a fitted implicit estimator's operator is *regular*, sample by sample.

    It first solves each sample to a tight tolerance (``tol``, with the
    estimator's solver, up to ``n_iter`` steps; ``converged`` says which
    samples got there), so that the linearisation is taken at the fixed
    point ``z*`` and not at a truncated iterate. At ``z*`` it measures the
    contraction modulus ``mu(x)`` (spectral norm of ``dG/dz``: the
    worst-case contraction of one step, an upper bound) and the spectral
    radius ``radius(x)`` (the asymptotic rate of the iteration;
    ``radius < 1 <= mu`` is possible and still converges, see
    :class:`RegularityReport`) of ``z -> G(z, Q_phi(x))``, the Lipschitz constant
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
    n_iter : int, optional
        Most steps of the fixed-point solves (they stop earlier at
        ``tol``); default 1000.
    tol : float, default=1e-6
        Per-sample relative residual the solves aim for before linearising;
        None takes the estimator's ``tol``.
    eps : float, default=1e-3
        Size of the perturbations of the measured constants (the
        estimator's default Lipschitz directions).
    n_directions : int, default=4
        Perturbed copies per sample for the measured constants.
    n_power_iter : int, default=30
        Power iterations for ``mu``, ``radius`` and ``Lip_x``.
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
    >>> bool(rep.converged.all()), bool(np.all(rep.radius <= rep.mu + 1e-3))
    (True, True)
    """
    check_is_fitted(estimator)
    if isinstance(eps, bool) or not isinstance(eps, Real) or not 0 < eps < np.inf:
        raise ValueError(f"eps must be a positive finite number, got {eps!r}.")
    if isinstance(n_directions, bool) or not isinstance(n_directions, Integral) or n_directions < 1:
        raise ValueError(f"n_directions must be an integer >= 1, got {n_directions!r}.")
    max_iter, tol_ = estimator._budget(
        _MAX_ITER if n_iter is None else n_iter, estimator.tol if tol is None else tol
    )
    Xv = estimator._validate_X(X)
    module = estimator.module_
    device = _device_of(module)
    x = estimator._to_tensor(Xv, device)
    gen = _torch_generator(random_state)
    n = estimator._n_rows(Xv)
    iterated = getattr(module, "operator", None) is not None
    steps = None
    with torch.no_grad():
        u = module.encode(x)
        if iterated:
            # The estimator's solver on z -> G(z, u), watching the states z_k.
            z0 = module.init_state(u)
            steps = _StepNorms(z0)
            z_star, info = module.solver(
                lambda z: module.step(z, u), z0, max_iter=max_iter, tol=tol_, callback=steps
            )
            y_star = module.read(z_star, u)
        else:
            y_star, z_star, info = module.solve(x, max_iter=max_iter, tol=tol_)
    z_star = z_star.detach()
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
    radius = nan
    step_ratio = np.zeros((0, n))
    if iterated:
        # Drawn last: the other figures keep the random draws they had before.
        radius = _spectral_radius(
            lambda z: module.step(z, u), z_star, n_power_iter=n_power_iter, random_state=gen
        )
        step_ratio = steps.ratios(info.n_steps)
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
        radius=np.asarray(radius, dtype=np.float64),
        step_ratio=step_ratio,
        tol=float(tol_),
    )


class _StepNorms:
    """Solver callback keeping the step norms ``||z_k - z_{k-1}||`` of each sample."""

    def __init__(self, z0):
        self.previous = z0
        self.norms = []

    def __call__(self, k, z):
        self.norms.append(_row_norms(z - self.previous).double())
        self.previous = z

    def ratios(self, n_steps):
        """Ratios of successive step norms, shape (n_steps_run - 1, n); NaN after a sample stopped."""
        if len(self.norms) < 2:
            return np.zeros((0, len(n_steps)))
        d = torch.stack(self.norms).cpu().numpy()
        with np.errstate(divide="ignore", invalid="ignore"):
            ratio = d[1:] / d[:-1]
        k = np.arange(2, d.shape[0] + 1)[:, None]
        return np.where(k <= np.asarray(n_steps)[None, :], ratio, np.nan)


def _spectral_radius(fn, inp, n_power_iter, random_state):
    """Per-sample spectral-radius estimate of the Jacobian of a row-wise map ``fn`` at ``inp``.

    Power iteration ``v -> J v / ||J v||`` with Jacobian-vector products (the
    map must send a state to a state of its shape); the estimate is the
    geometric mean of the growth ``||J v||`` over the second half of the
    ``n_power_iter`` iterations, ``(||J^k v|| / ||J^(k/2) v||)^(2/k)``.
    """
    ops = _jvp_vjp(fn, inp)
    n = inp.shape[0]
    if ops is None:  # the map does not depend on its input
        return np.zeros(n)
    jvp = ops[0]
    gen = _torch_generator(random_state)
    shape = (-1,) + (1,) * (inp.dim() - 1)
    v = _unit_like(inp.detach(), gen)
    logs = []
    for _ in range(int(n_power_iter)):
        w = jvp(v).detach()
        norm = _row_norms(w)
        logs.append(torch.log(norm.double()))  # -inf where J v = 0: radius 0
        v = torch.where((norm > 0).reshape(shape), w / norm.clamp_min(1e-30).reshape(shape), v)
    half = torch.stack(logs[len(logs) // 2 :])
    return torch.exp(half.mean(dim=0)).cpu().numpy()


def _device_of(module):
    for tensor in module.parameters():
        return tensor.device
    for tensor in module.buffers():
        return tensor.device
    return torch.device("cpu")
