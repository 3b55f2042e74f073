"""``python -m sklearn_implicit demo --task navier-stokes``: implicit vs explicit FNO."""

from __future__ import annotations

import time

import numpy as np

__all__ = ["run"]


def run(*, quick: bool = True, seed: int = 0, output: str | None = None) -> dict:
    """Train small implicit and explicit FNOs on steady Navier–Stokes and compare them.

    Data: forcing curl -> steady vorticity on a 32 x 32 periodic grid from
    :func:`~sklearn_implicit.datasets.make_navier_stokes` (viscosity 0.2,
    cached on disk after the first run). Both models have the same width and
    Fourier layers; the implicit one iterates them with input injection to a
    fixed point, the explicit one applies them once.

    Parameters
    ----------
    quick : bool, default=True
        Small data and width (about a minute on a CPU, data generation
        included; at this scale the implicit model's lead is small); False is
        the configuration of ``benchmarks/navier_stokes.py --quick`` (several
        minutes).
    seed : int, default=0
        Seed of the data and the models.
    output : str, optional
        Path of a PNG: forcing, true / explicit / implicit vorticity, test
        error and ``L_t`` over the budget ``t``.

    Returns
    -------
    dict
        ``rel_error_implicit``, ``rel_error_explicit`` (test relative L2),
        ``error_by_iter`` and ``lipschitz_by_iter`` (implicit model,
        ``t = 1..T``), ``n_params_implicit``, ``n_params_explicit``, ``seconds``.
    """
    from ..utils import torch_threads

    with torch_threads(1):  # small batched matrix products
        return _run(quick=quick, seed=seed, output=output)


def _run(*, quick, seed, output):
    import warnings

    from sklearn.exceptions import ConvergenceWarning

    from . import FNORegressor, relative_l2_error
    from ._data import make_navier_stokes

    start = time.perf_counter()
    n_train, n_test, width, epochs, T = (240, 60, 16, 20, 20) if quick else (400, 100, 32, 30, 30)
    X, y, info = make_navier_stokes(
        n_train + n_test, viscosity=0.2, return_info=True, random_state=seed
    )
    X_train, y_train = X[:n_train], y[:n_train]
    X_test, y_test = X[n_train:], y[n_train:]
    common = dict(
        width=width,
        modes=8,
        max_epochs=epochs,
        lr=5e-3,
        optimizer__weight_decay=1e-4,
        random_state=seed,
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        explicit = FNORegressor("explicit", **common).fit(X_train, y_train)
        implicit = FNORegressor(
            "implicit", n_iter=12, backward__k=3, backward__tau=0.8, **common
        ).fit(X_train, y_train)
        e_exp = relative_l2_error(y_test, explicit.predict(X_test))
        e_imp = relative_l2_error(y_test, implicit.predict(X_test))
        by_iter = [relative_l2_error(y_test, p) for p in implicit.staged_predict(X_test, n_iter=T)]
        lips = implicit.lipschitz_curve(X_test[:8], n_iter=T, eps=0.1, random_state=seed).lipschitz
    print(
        f"Navier-Stokes demo: {n_train} train / {n_test} test steady states, 32x32, nu=0.2 "
        f"(max residual {info['residual'].max():.1e})"
    )
    print(f"{'model':<14} {'params':>8} {'test rel. L2':>13}")
    print(f"{'explicit FNO':<14} {explicit.n_parameters_:>8} {e_exp:>13.4f}")
    print(f"{'implicit FNO':<14} {implicit.n_parameters_:>8} {e_imp:>13.4f}")
    print(f"\n{'t':>4} {'rel. L2':>8} {'L_t':>8}")
    for t in range(1, T + 1):
        if t <= 3 or t % 5 == 0:
            print(f"{t:>4} {by_iter[t - 1]:>8.4f} {lips[t - 1]:>8.3f}")
    if output:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)
            _plot(output, X_test, y_test, explicit, implicit, by_iter, lips, e_exp)
        print(f"figure: {output}")
    seconds = time.perf_counter() - start
    print(f"time: {seconds:.0f} s")
    return {
        "rel_error_implicit": float(e_imp),
        "rel_error_explicit": float(e_exp),
        "error_by_iter": [float(v) for v in by_iter],
        "lipschitz_by_iter": [float(v) for v in lips],
        "n_params_implicit": int(implicit.n_parameters_),
        "n_params_explicit": int(explicit.n_parameters_),
        "seconds": float(seconds),
    }


def _plot(output, X_test, y_test, explicit, implicit, by_iter, lips, e_exp):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    n = int(np.sqrt(y_test.shape[1]))
    fields = [
        ("forcing curl", X_test[0]),
        ("true vorticity", y_test[0]),
        ("explicit FNO", explicit.predict(X_test[:1])[0]),
        ("implicit FNO", implicit.predict(X_test[:1])[0]),
    ]
    fig, axes = plt.subplots(1, 6, figsize=(19, 3.2))
    vmax = np.abs(y_test[0]).max()
    for k, (ax, (title, f)) in enumerate(zip(axes, fields)):
        lim = np.abs(f).max() if k == 0 else vmax
        ax.imshow(f.reshape(n, n), cmap="RdBu_r", vmin=-lim, vmax=lim, origin="lower")
        ax.set_title(title)
        ax.axis("off")
    t = np.arange(1, len(by_iter) + 1)
    axes[4].semilogy(t, by_iter, label="implicit FNO")
    axes[4].axhline(e_exp, color="k", ls="--", label="explicit FNO")
    axes[4].set(xlabel="t", ylabel="test relative L2 error")
    axes[4].legend()
    axes[5].plot(t, lips)
    axes[5].set(xlabel="t", ylabel="L_t (max)")
    fig.tight_layout()
    fig.savefig(output, dpi=100)
    plt.close(fig)
