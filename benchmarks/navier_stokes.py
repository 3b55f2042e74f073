"""Steady Navier–Stokes benchmark: implicit vs explicit Fourier neural operator (paper section 3).

Generates forcing -> steady-vorticity pairs with the package's pseudo-spectral
Newton–GMRES solver (``make_navier_stokes``, cached on disk after the first
run), trains the implicit FNO (weight-tied Fourier layers with input
injection, Anderson forward, phantom-gradient backward with the paper's
``k = 3, tau = 0.8``) and the explicit FNO of the same width (the same Fourier
layers, untied, no injection, applied once), both with the relative L2 loss,
Adam and weight decay 1e-4, then reports:

- the test relative L2 error of both models;
- the implicit model's test error after every budget ``t`` (``t`` applications
  of ``G`` from ``z_0 = 0``);
- its empirical Lipschitz constant ``L_t`` (single-frequency forcing
  perturbations, max over samples and directions), as in the paper's Fig. 4a;
- the curve runs to ``t_max = 5 n_iter`` (five times the training depth), and
  ``budget_curve`` (one trajectory, the error as its score) gives the fraction
  of test fields whose relative residual ``||G(z_t) - z_t|| / ||G(z_t)||`` is
  at most 1e-4 at ``t_max`` and the budget reaching 95 % of the fitted gain.

The explicit model gets as many epochs as the implicit one; each of its epochs
is several times cheaper (one pass through the layers instead of a solve).

Usage::

    python benchmarks/navier_stokes.py --quick   # < 10 min on 2 CPU cores
    python benchmarks/navier_stokes.py           # larger; uses a GPU when present

The last line printed is one JSON object with the keys ``rel_error_implicit``,
``rel_error_explicit``, ``error_by_iter``, ``lipschitz_by_iter``,
``n_params_implicit``, ``n_params_explicit``, then extras, among them
``train_depth`` (the training ``n_iter``), ``converged_fraction`` (at the
largest ``t``: fraction of test fields with relative residual <= 1e-4),
``residual_by_iter`` (mean relative residual) and ``t_at_95`` (the smallest
``t`` reaching 95 % of the fitted gain of the error curve, ``BudgetCurve.budget_at``).
"""

from __future__ import annotations

import argparse
import json
import time
import warnings
from pathlib import Path

import numpy as np
import torch
from sklearn.exceptions import ConvergenceWarning

from sklearn_implicit.datasets import make_navier_stokes
from sklearn_implicit.pde import FNORegressor, relative_l2_error

CONFIGS = {
    "quick": dict(
        n_train=400,
        n_test=100,
        resolution=32,
        viscosity=0.2,
        width=32,
        modes=8,
        n_layers=2,
        epochs=30,
        n_iter=12,
        t_max=60,
        n_lipschitz=16,
    ),
    "full": dict(
        n_train=1000,
        n_test=200,
        resolution=32,
        viscosity=0.2,
        width=32,
        modes=12,
        n_layers=2,
        epochs=60,
        n_iter=24,
        t_max=120,
        n_lipschitz=32,
    ),
}


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="small run (< 10 min on 2 CPUs)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--device", default="auto")
    parser.add_argument("--threads", type=int, default=2, help="torch intra-op threads")
    parser.add_argument("--output", default="benchmarks/results/navier_stokes.png")
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    warnings.filterwarnings("ignore", category=ConvergenceWarning)
    cfg = CONFIGS["quick" if args.quick else "full"]
    t_start = time.perf_counter()

    t0 = time.perf_counter()
    X, y, info = make_navier_stokes(
        cfg["n_train"] + cfg["n_test"],
        resolution=cfg["resolution"],
        viscosity=cfg["viscosity"],
        return_info=True,
        random_state=args.seed,
    )
    t_data = time.perf_counter() - t0
    n = cfg["n_train"]
    X_train, y_train = X[:n], y[:n]
    X_test, y_test = X[n:], y[n:]
    print(f"config: {cfg}")
    stokes = relative_l2_error(y_test, _stokes(X_test, info["viscosity"], cfg["resolution"]))
    print(
        f"data: {X.shape[0]} steady states {cfg['resolution']}x{cfg['resolution']}, "
        f"nu={info['viscosity']}, max residual {info['residual'].max():.1e}, "
        f"{info['n_dropped']} unconverged draws dropped, {t_data:.0f} s"
    )
    print(f"reference: the linear (Stokes) solution has test rel. L2 error {stokes:.4f}")

    common = dict(
        width=cfg["width"],
        modes=cfg["modes"],
        n_layers=cfg["n_layers"],
        max_epochs=cfg["epochs"],
        lr=5e-3,
        batch_size=16,
        optimizer__weight_decay=1e-4,
        device=args.device,
        random_state=args.seed,
    )
    models, errors, times = {}, {}, {}
    for arch in ("explicit", "implicit"):
        t0 = time.perf_counter()
        kw = {}
        if arch == "implicit":
            kw = dict(
                n_iter=cfg["n_iter"],
                tol=1e-4,
                solver="anderson",
                backward="phantom",
                backward__k=3,
                backward__tau=0.8,
            )
        est = FNORegressor(arch, **common, **kw).fit(X_train, y_train)
        times[arch] = time.perf_counter() - t0
        models[arch] = est
        errors[arch] = relative_l2_error(y_test, est.predict(X_test))
        print(
            f"{arch:>8}: test rel. L2 {errors[arch]:.4f}  params {est.n_parameters_}  "
            f"fit {times[arch]:.0f} s  loss {est.loss_curve_[0]:.3f} -> {est.loss_curve_[-1]:.3f}"
        )

    implicit = models["implicit"]
    # One trajectory of t_max steps: the error after every budget t (as the score,
    # negated: greater is better), the relative residual and the converged fraction
    # at the estimator's tol (1e-4).
    budget = implicit.budget_curve(
        X_test, y_test, n_iter=cfg["t_max"], scoring=_neg_rel_error, lipschitz=False
    )
    error_by_iter = [float(-v) for v in budget.score]
    residual_by_iter = [float(v) for v in budget.residual]
    converged = float(budget.fraction_converged[-1])
    t_at_95 = budget.budget_at(0.95)
    curve = implicit.lipschitz_curve(
        X_test[: cfg["n_lipschitz"]],
        n_iter=cfg["t_max"],
        eps=0.1,
        n_directions=4,
        reduce="max",
        random_state=args.seed,
    )
    lips = [float(v) for v in curve.lipschitz]
    print("\nimplicit FNO over the budget t (test set):")
    print(f"{'t':>4} {'rel. L2':>8} {'L_t':>9} {'residual':>9} {'conv.':>6}")
    for t in range(1, cfg["t_max"] + 1):
        if t <= 5 or t % 5 == 0 or t == cfg["n_iter"]:
            print(
                f"{t:>4} {error_by_iter[t - 1]:>8.4f} {lips[t - 1]:>9.3f} "
                f"{residual_by_iter[t - 1]:>9.2e} {budget.fraction_converged[t - 1]:>6.2f}"
            )
    print(
        f"\nimplicit {errors['implicit']:.4f} vs explicit {errors['explicit']:.4f} "
        f"(paper: 0.078 vs 0.179); L_1 {lips[0]:.2f} -> L_{cfg['t_max']} {lips[-1]:.2f} "
        "(paper: 23 -> 367)"
    )
    print(
        f"training depth {cfg['n_iter']}; at t = {cfg['t_max']}: {converged:.2f} of the test "
        f"fields have relative residual <= 1e-4; 95 % of the fitted gain at t = {t_at_95} "
        f"(asymptote {-budget.asymptote:.4f}, rate {budget.rate:.2f}, {budget.fit_status})"
    )
    print(f"total time {time.perf_counter() - t_start:.0f} s")
    _plot(args.output, models, X_test, y_test, error_by_iter, lips, errors, cfg["resolution"])

    print(
        json.dumps(
            {
                "rel_error_implicit": round(errors["implicit"], 4),
                "rel_error_explicit": round(errors["explicit"], 4),
                "error_by_iter": [round(v, 4) for v in error_by_iter],
                "lipschitz_by_iter": [round(v, 3) for v in lips],
                "n_params_implicit": int(implicit.n_parameters_),
                "n_params_explicit": int(models["explicit"].n_parameters_),
                "rel_error_stokes": round(stokes, 4),
                "seconds": round(time.perf_counter() - t_start, 1),
                "train_depth": int(cfg["n_iter"]),
                "t_max": int(cfg["t_max"]),
                "converged_fraction": round(converged, 4),
                "converged_definition": "relative residual <= 1e-4 at t_max",
                "residual_by_iter": [float(f"{v:.3g}") for v in residual_by_iter],
                "t_at_95": t_at_95,
                "error_asymptote": round(-budget.asymptote, 4),
            }
        )
    )


def _neg_rel_error(estimator, X, y):
    """Scorer: minus the test relative L2 error (greater is better)."""
    return -relative_l2_error(y, estimator.predict(X))


def _stokes(X, nu, n):
    """The Stokes solution ``w = g / (nu |k|^2)``: what the flow would be without advection."""
    k = np.fft.fftfreq(n, d=1.0 / n)
    k2 = k[None, :] ** 2 + k[:, None] ** 2
    k2[0, 0] = np.inf
    g_hat = np.fft.fft2(X.reshape(-1, n, n))
    return np.real(np.fft.ifft2(g_hat / (nu * k2))).reshape(X.shape[0], -1)


def _plot(output, models, X_test, y_test, error_by_iter, lips, errors, n):
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:  # pragma: no cover
        return
    i = 0
    panels = [
        ("forcing curl", X_test[i]),
        ("true vorticity", y_test[i]),
        (f"explicit ({errors['explicit']:.3f})", models["explicit"].predict(X_test[:1])[0]),
        (f"implicit ({errors['implicit']:.3f})", models["implicit"].predict(X_test[:1])[0]),
    ]
    fig, axes = plt.subplots(1, 6, figsize=(19, 3.2))
    vmax = np.abs(y_test[i]).max()
    for k, (ax, (title, field)) in enumerate(zip(axes, panels)):
        lim = np.abs(field).max() if k == 0 else vmax
        ax.imshow(field.reshape(n, n), cmap="RdBu_r", vmin=-lim, vmax=lim, origin="lower")
        ax.set_title(title)
        ax.axis("off")
    t = np.arange(1, len(error_by_iter) + 1)
    axes[4].semilogy(t, error_by_iter, label="implicit FNO")
    axes[4].axhline(errors["explicit"], color="k", ls="--", label="explicit FNO")
    axes[4].set(xlabel="t", ylabel="test relative L2 error")
    axes[4].legend()
    axes[5].plot(t, lips)
    axes[5].set(xlabel="t", ylabel="L_t (max)")
    fig.tight_layout()
    Path(output).parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(output, dpi=100)
    print(f"figure: {output}")


if __name__ == "__main__":
    main()
