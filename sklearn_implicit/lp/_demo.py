"""``python -m sklearn_implicit demo --task lp``: implicit vs explicit GNN on random LPs."""

from __future__ import annotations

import time

import numpy as np

__all__ = ["run"]


def run(*, quick: bool = True, seed: int = 0, output: str | None = None) -> dict:
    """Train small implicit and explicit bipartite GNNs on random LPs and compare them.

    Parameters
    ----------
    quick : bool, default=True
        Small data and few epochs (a smoke test, well under a minute); False
        trains longer on more LPs (one to two minutes on a CPU).
    seed : int, default=0
        Seed of the data and of the models.
    output : str, optional
        Path of a PNG with the test error and ``L_t`` over iterations.

    Returns
    -------
    dict
        ``implicit_error``, ``explicit_error`` (test errors), ``error_by_iter``
        and ``lipschitz_by_iter`` (implicit model, ``t = 1..100``, 5x its
        mean training depth),
        ``implicit_params``, ``explicit_params``, ``seconds``.
    """
    from ..utils import torch_threads

    with torch_threads(1):  # many tiny tensors
        return _run(quick=quick, seed=seed, output=output)


def _run(*, quick, seed, output):
    from ..lipschitz import LPBlocks
    from . import LPGNNRegressor, lp_relative_error
    from ._data import make_linear_programs

    start = time.perf_counter()
    n_train, n_test, epochs = (200, 100, 100) if quick else (600, 200, 200)
    X, y = make_linear_programs(n_train + n_test, random_state=seed)
    X_train, y_train, X_test, y_test = X[:n_train], y[:n_train], X[n_train:], y[n_train:]
    common = {"emb_size": 8, "max_epochs": epochs, "batch_size": 50, "random_state": seed}
    implicit = LPGNNRegressor(n_iter=20, **common).fit(X_train, y_train)
    explicit = LPGNNRegressor(architecture="explicit", **common).fit(X_train, y_train)
    err_imp = lp_relative_error(y_test, implicit.predict(X_test))
    err_exp = lp_relative_error(y_test, explicit.predict(X_test))
    T = 5 * implicit.n_iter
    by_iter = [lp_relative_error(y_test, p) for p in implicit.staged_predict(X_test, n_iter=T)]
    lip = implicit.lipschitz_curve(
        X_test, n_iter=T, directions=LPBlocks("A"), reduce="mean", random_state=seed
    ).lipschitz
    print(f"LP demo: {n_train} train / {n_test} test LPs (m=10, n=50), emb_size=8")
    print(f"{'model':<10} {'params':>7} {'test error':>11}")
    print(f"{'explicit':<10} {explicit.n_params_:>7} {err_exp:>11.3f}")
    depth = implicit.n_iter
    print(f"{'implicit':<10} {implicit.n_params_:>7} {err_imp:>11.3f}  (mean depth t={depth})")
    print(f"{'t':>3} {'error':>7} {'L_t (A)':>8}")
    for t in sorted({1, 2, 3, 5, 8, *range(10, T + 1, 10)}):
        print(f"{t:>3} {by_iter[t - 1]:>7.3f} {lip[t - 1]:>8.3f}")
    if output is not None:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt

        fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(9, 3.5))
        ts = np.arange(1, T + 1)
        ax1.plot(ts, by_iter, "o-", label="implicit")
        ax1.axhline(err_exp, color="C1", ls="--", label="explicit")
        ax1.set(xlabel="iterations t", ylabel="test error", title="Error vs test-time compute")
        ax1.legend()
        ax2.plot(ts, lip, "o-")
        ax2.set(xlabel="iterations t", ylabel="L_t (mean, block A)", title="Empirical Lipschitz")
        fig.tight_layout()
        fig.savefig(output, dpi=100)
        plt.close(fig)
    return {
        "implicit_error": float(err_imp),
        "explicit_error": float(err_exp),
        "implicit_params": int(implicit.n_params_),
        "explicit_params": int(explicit.n_params_),
        "error_by_iter": [float(v) for v in by_iter],
        "lipschitz_by_iter": [float(v) for v in lip],
        "seconds": time.perf_counter() - start,
    }
