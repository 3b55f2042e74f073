"""Command line: ``python -m sklearn_implicit demo [--task NAME] [--output PATH] [--seed N] [--quick]``.

The default task, ``reciprocal``, reproduces the paper's 1/x example at laptop
scale: an implicit model and an explicit MLP with the same number of
parameters learn ``y = 1/x`` on ``(0.02, 1]`` (a locally Lipschitz target with
a singularity at 0, no target transform). It prints, for budgets
``t = 1, 2, 4, ..., 128``, the implicit model's test error (overall and near
the singularity) and its empirical Lipschitz constant ``L_t`` beside the
explicit model's error, and writes a two-panel PNG (error vs ``t``, ``L_t``
vs ``t``). The other tasks run the domain packages' demos.
"""

from __future__ import annotations

import argparse
import importlib
import os
import sys
import time
from pathlib import Path

import numpy as np

__all__ = ["main", "run_reciprocal"]

#: task name -> module providing ``run(*, quick, seed, output) -> dict``.
TASKS = {
    "reciprocal": None,
    "lp": "sklearn_implicit.lp._demo",
    "deblur": "sklearn_implicit.imaging._demo",
    "navier-stokes": "sklearn_implicit.pde._demo",
    "looped": "sklearn_implicit.looped._demo",
}

#: Seeds go to :class:`numpy.random.RandomState`, which takes ``0 <= seed < 2**32``.
_MAX_SEED = 2**32 - 1

_LOW = 0.02  # the domain is (_LOW, 1]; 1/x is locally but not globally Lipschitz near 0
_NEAR = 0.1  # "near the singularity": x < _NEAR, where 1/x is in (10, 50]


def _count(module):
    return sum(p.numel() for p in module.parameters())


def _fit_explicit(X, y, hidden, *, epochs, lr, batch_size, seed, progress):
    """A one-hidden-layer tanh MLP trained with Adam (the explicit baseline)."""
    import torch
    from torch import nn

    with torch.random.fork_rng():
        torch.manual_seed(seed)
        net = nn.Sequential(nn.Linear(X.shape[1], hidden), nn.Tanh(), nn.Linear(hidden, 1))
        opt = torch.optim.Adam(net.parameters(), lr=lr)
        Xt = torch.tensor(X, dtype=torch.float32)
        yt = torch.tensor(y, dtype=torch.float32).reshape(-1, 1)
        n = Xt.shape[0]
        bar = None
        if progress:
            from tqdm.auto import tqdm

            bar = tqdm(total=epochs, desc="fit explicit MLP", unit="epoch", leave=False)
        for _ in range(epochs):
            perm = torch.randperm(n)
            for start in range(0, n, batch_size):
                idx = perm[start : start + batch_size]
                opt.zero_grad()
                loss = ((net(Xt[idx]) - yt[idx]) ** 2).mean()
                loss.backward()
                opt.step()
            if bar is not None:
                bar.set_postfix(loss=f"{loss.item():.4g}")
                bar.update(1)
        if bar is not None:
            bar.close()
    net.eval()
    return net


def _rmse(pred, target, mask=None):
    err = (np.asarray(pred) - np.asarray(target)) ** 2
    if mask is not None:
        err = err[mask]
    return float(np.sqrt(np.mean(err)))


def run_reciprocal(*, quick=False, seed=0, output="demo.png", progress=True):
    """Implicit vs equal-size explicit model on ``y = 1/x``; print a table, write a PNG.

    Parameters
    ----------
    quick : bool, default=False
        Fewer samples and epochs (a smoke test, several times faster).
    seed : int, default=0
        Seed of the data and of both models.
    output : str or None, default="demo.png"
        Where to write the two-panel figure; None skips it.
    progress : bool, default=True
        Show progress bars while training.

    Returns
    -------
    results : dict
        Test errors, ``L_t``, parameter counts and timings.
    """
    import torch

    from ._regressor import ImplicitRegressor
    from .theory import GatedLinearOperator

    t_start = time.perf_counter()
    budgets = [2**k for k in range(8)]  # 1, 2, ..., 128
    T = budgets[-1]
    n_train = 300 if quick else 1000
    epochs = 15 if quick else 50
    rng = np.random.RandomState(seed)
    X = rng.uniform(_LOW, 1.0, size=(n_train, 1))
    y = 1.0 / X[:, 0]
    X_test = np.linspace(_LOW, 1.0, 1000 if quick else 2000)[:, None]
    y_test = 1.0 / X_test[:, 0]
    near = X_test[:, 0] < _NEAR

    print(
        f"Target y = 1/x on ({_LOW:g}, 1]: {n_train} training points, {len(X_test)} test "
        f"points ({int(near.sum())} near the singularity, x < {_NEAR:g})."
    )
    implicit = ImplicitRegressor(
        operator=GatedLinearOperator,
        operator__width=4,
        decoder="linear",
        n_iter=T,
        tol=1e-5,
        backward="implicit",
        max_epochs=epochs,
        lr=1e-2,
        batch_size=100,
        random_state=seed,
        verbose=int(progress),
    )
    t0 = time.perf_counter()
    implicit.fit(X, y)
    fit_implicit_s = time.perf_counter() - t0
    n_implicit = _count(implicit.module_)

    # Equal size: a 1-h-1 MLP has 3h + 1 parameters.
    hidden = max(1, round((n_implicit - 1) / 3))
    # The explicit net is much cheaper per epoch: give it 20 times as many (same
    # optimizer, learning rate and batch size), so the comparison is not won by
    # under-training the baseline.
    explicit_epochs = 20 * epochs
    t0 = time.perf_counter()
    explicit = _fit_explicit(
        X,
        y,
        hidden,
        epochs=explicit_epochs,
        lr=1e-2,
        batch_size=100,
        seed=seed,
        progress=progress,
    )
    fit_explicit_s = time.perf_counter() - t0
    n_explicit = _count(explicit)

    # Every budget from one trajectory; L_t from one stacked trajectory.
    staged = list(implicit.staged_predict(X_test, n_iter=T))
    err = {t: _rmse(staged[t - 1], y_test) for t in budgets}
    err_near = {t: _rmse(staged[t - 1], y_test, near) for t in budgets}
    curve = implicit.lipschitz_curve(
        X_test[:: 10 if quick else 5], n_iter=T, eps=1e-4, n_directions=1, random_state=seed
    )
    with torch.no_grad():
        pred_explicit = explicit(torch.tensor(X_test, dtype=torch.float32))[:, 0].numpy()
    exp_err = _rmse(pred_explicit, y_test)
    exp_err_near = _rmse(pred_explicit, y_test, near)
    # The explicit model's empirical Lipschitz constant on the same grid.
    slopes = np.abs(np.diff(pred_explicit)) / np.diff(X_test[:, 0])
    exp_lip = float(slopes.max())

    print()
    print(
        f"implicit: GatedLinearOperator(width=4), {n_implicit} parameters, "
        f"{epochs} epochs, {fit_implicit_s:.1f} s"
    )
    print(
        f"explicit: MLP 1-{hidden}-1 tanh, {n_explicit} parameters, "
        f"{explicit_epochs} epochs, {fit_explicit_s:.1f} s"
    )
    print()
    header = (
        f"{'t':>5} | {'implicit RMSE':>13} {'near x<' + format(_NEAR, 'g'):>11} {'L_t':>10} | "
        f"{'explicit RMSE':>13} {'near':>11}"
    )
    print(header)
    print("-" * len(header))
    for t in budgets:
        print(
            f"{t:>5} | {err[t]:>13.4f} {err_near[t]:>11.4f} {curve.lipschitz[t - 1]:>10.1f} | "
            f"{exp_err:>13.4f} {exp_err_near:>11.4f}"
        )
    print(
        f"\nTrue Lipschitz constant of 1/x on the domain: {1 / _LOW**2:.0f}; "
        f"explicit MLP's empirical one: {exp_lip:.1f}."
    )
    verdict = "below" if err_near[T] < exp_err_near else "NOT below"
    print(
        f"At t = {T} the implicit model's error near the singularity ({err_near[T]:.3f}) is "
        f"{verdict} the equal-size explicit MLP's ({exp_err_near:.3f})."
    )

    results = {
        "task": "reciprocal",
        "n_iter": budgets,
        "implicit_rmse": [err[t] for t in budgets],
        "implicit_rmse_near": [err_near[t] for t in budgets],
        "lipschitz": [float(curve.lipschitz[t - 1]) for t in budgets],
        "explicit_rmse": exp_err,
        "explicit_rmse_near": exp_err_near,
        "explicit_lipschitz": exp_lip,
        "n_params_implicit": n_implicit,
        "n_params_explicit": n_explicit,
        "time_s": time.perf_counter() - t_start,
    }
    if output is not None:
        _plot_reciprocal(results, curve, output)
        print(f"Figure written to {output}")
        results["output"] = str(output)
    return results


def _plot_reciprocal(results, curve, output):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    t = np.asarray(results["n_iter"])
    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(10, 4))
    ax1.loglog(t, results["implicit_rmse"], "o-", color="C0", label="implicit, all x")
    ax1.loglog(t, results["implicit_rmse_near"], "s-", color="C1", label=f"implicit, x < {_NEAR:g}")
    ax1.axhline(results["explicit_rmse"], color="C0", ls="--", label="explicit MLP, all x")
    ax1.axhline(
        results["explicit_rmse_near"], color="C1", ls="--", label=f"explicit MLP, x < {_NEAR:g}"
    )
    ax1.set_xlabel("test-time budget t (iterations)")
    ax1.set_ylabel("test RMSE")
    ax1.set_title(
        f"y = 1/x: {results['n_params_implicit']} vs {results['n_params_explicit']} parameters"
    )
    ax1.legend(fontsize=8)
    ax2.loglog(curve.n_iter, curve.lipschitz, "-", color="C2", label="implicit $L_t$")
    ax2.axhline(results["explicit_lipschitz"], color="C2", ls="--", label="explicit MLP")
    ax2.axhline(1 / _LOW**2, color="k", ls=":", label="1/x on the domain")
    ax2.set_xlabel("test-time budget t (iterations)")
    ax2.set_ylabel("empirical Lipschitz constant")
    ax2.set_title("$L_t$ of $x \\mapsto y_t(x)$")
    ax2.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(output, dpi=120)
    plt.close(fig)


def _seed(text):
    """argparse type of ``--seed``: an integer that every demo's random generators accept."""
    try:
        seed = int(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(f"expected an integer, got {text!r}.") from exc
    if not 0 <= seed <= _MAX_SEED:
        raise argparse.ArgumentTypeError(
            f"must be in [0, {_MAX_SEED}] (numpy's seed range), got {seed}."
        )
    return seed


def _output_problem(output):
    """Why the figure cannot be written to ``output`` (checked before training), or None."""
    path = Path(output)
    if path.is_dir():
        return f"{output} is a directory; give a file path such as {path / 'demo.png'}."
    folder = path.parent
    if not folder.is_dir():
        return f"cannot write {output}: the folder {folder} does not exist."
    if path.exists():
        if not os.access(path, os.W_OK):
            return f"cannot write {output}: the file is not writable."
    elif not os.access(folder, os.W_OK | os.X_OK):
        return f"cannot write {output}: the folder {folder} is not writable."
    return None


def _run_task(task, *, quick, seed, output):
    if task == "reciprocal":
        return run_reciprocal(quick=quick, seed=seed, output=output)
    modname = TASKS[task]
    try:
        module = importlib.import_module(modname)
    except ModuleNotFoundError as exc:
        if exc.name is not None and modname.startswith(exc.name):
            raise SystemExit(
                f"error: the {task!r} demo is not available: module {modname} is missing "
                f"({exc}). Install the full package or pick another --task."
            ) from None
        raise
    return module.run(quick=quick, seed=seed, output=output)


def main(argv=None):
    """Entry point of ``python -m sklearn_implicit``."""
    parser = argparse.ArgumentParser(
        prog="python -m sklearn_implicit",
        description="sklearn-implicit command line.",
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    demo = sub.add_parser(
        "demo",
        help="Fit an implicit model and an equal-size explicit one; print a table, write a PNG.",
        description=(
            "Train an implicit model and an explicit baseline, print test error and the "
            "empirical Lipschitz constant L_t over the test-time budget t, write a figure."
        ),
    )
    demo.add_argument(
        "--task",
        choices=sorted(TASKS),
        default="reciprocal",
        help="Which demo (default: reciprocal, the paper's 1/x example).",
    )
    demo.add_argument(
        "--output",
        default=None,
        metavar="PATH",
        help="Path of the PNG figure (default: demo.png for the reciprocal task).",
    )
    demo.add_argument(
        "--seed",
        type=_seed,
        default=0,
        help=f"Random seed, an integer in [0, {_MAX_SEED}] (default: 0).",
    )
    demo.add_argument("--quick", action="store_true", help="Smaller, faster run (a smoke test).")
    args = parser.parse_args(argv)
    if args.command is None:
        parser.print_help()
        return 2
    output = args.output
    if output is None and args.task == "reciprocal":
        output = "demo.png"
    if output is not None:
        problem = _output_problem(output)
        if problem is not None:
            demo.error(f"argument --output: {problem}")
    _run_task(args.task, quick=args.quick, seed=args.seed, output=output)
    return 0


if __name__ == "__main__":
    sys.exit(main())
