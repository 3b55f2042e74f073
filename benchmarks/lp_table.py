"""Paper Table 1 (linear programs): implicit vs explicit bipartite GNNs by embedding size.

Trains :class:`~sklearn_implicit.lp.LPGNNRegressor` implicit and explicit
(``architecture="explicit"``, two untied rounds) at each embedding size on
random LPs (m = 10, n = 50, nnz = 100, as the paper), prints parameters and the
paper's test error ``mean ||y_hat - y*|| / (||y*|| + 1)`` of the implicit model
at the paper's ``t = 8`` iterations and at the end of a long solve (``--max-t``,
at least 5x the deepest training depth), with the fraction of test LPs whose
relative residual reached 1e-4 there, and both again with the same weights
solved by a damped iteration (``solver__damping=0.5``: the plain iteration can
settle on a period-2 cycle around the fixed point). Then the error and the empirical
Lipschitz constant ``L_t`` (mean over instances, random directions on one LP
block, averaged over the blocks A, b, c, l, u) over the iterations ``t`` of the
largest implicit model. Ends with one JSON line.

Training is Adam on the MSE as in the paper, but far shorter (the paper: 10k
full-batch epochs at 3 iterations, then 5k at 6): with ``--quick`` 400
full-batch epochs on 500 LPs; without, 320 epochs of 5 mini-batches of 500 LPs
(1,600 Adam steps). The implicit models use the
estimator's default two-stage recipe (``stages="auto"``): 3/4 of the epochs at 3
unrolled iterations (lr ``--lr``), then 1/4 at random depths with mean
``--n-iter`` = 30, backpropagating through the last 3 steps of each
(``RandomDepth(k=3)``, lr / 10; see :class:`~sklearn_implicit.lp.LPGNNRegressor`).
The training depth reported is that mean, and the curve runs to 5x it. The
explicit models get the same total number of epochs in one stage. Input blocks
and targets are scaled by their training standard deviations
(``normalize=True``, the estimators' default).

Usage::

    python benchmarks/lp_table.py --quick      # < 10 min on 2 CPU cores
    python benchmarks/lp_table.py              # paper sizes (2500 train / 1000 test), < 1 h
"""

from __future__ import annotations

import argparse
import copy
import json
import time
import warnings

import numpy as np
import torch

from sklearn_implicit.datasets import make_linear_programs
from sklearn_implicit.lipschitz import LPBlocks
from sklearn_implicit.lp import LPGNNRegressor, lp_relative_error

PAPER = {
    "emb_sizes": [4, 8, 16, 32],
    "implicit_params": [722, 2350, 8390, 31606],
    "explicit_params": [580, 2088, 7888, 30624],
    "implicit_error": [0.218, 0.177, 0.152, 0.156],
    "explicit_error": [0.397, 0.273, 0.283, 0.318],
}
BLOCKS = ("A", "b", "c", "lower", "upper")
#: The paper's Table 1 budget (its ``--iters`` default).
PAPER_T = 8
#: Relative residual ``||G(z) - z|| / (||G(z)|| + 1e-6)`` counted as converged.
CONVERGED = 1e-4
CURVE_T = (1, 3, 8, 15, 30, 60, 90, 120, 150)
#: Damping of the second read at the end of the solve (``solver__damping``).
DAMPING = 0.5


def _error_scorer(est, X, y):
    """The paper's error, negated (greater is better, as scikit-learn scorers)."""
    return -lp_relative_error(y, est.predict(X))


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="small run (< 10 min on 2 cores)")
    parser.add_argument("--n-train", type=int, default=None)
    parser.add_argument("--n-test", type=int, default=None)
    parser.add_argument(
        "--epochs", type=int, default=None, help="full-batch Adam epochs, all stages together"
    )
    parser.add_argument("--lr", type=float, default=1e-2, help="learning rate (first stage)")
    parser.add_argument(
        "--batch-size",
        type=int,
        default=None,
        help="LPs per Adam step (default: full batch with --quick, else 500)",
    )
    parser.add_argument(
        "--n-iter", type=int, default=30, help="mean training depth of the refinement stage"
    )
    parser.add_argument("--train-states", type=int, default=1)
    parser.add_argument("--jacobian-penalty", type=float, default=0.0)
    parser.add_argument(
        "--one-stage",
        action="store_true",
        help="the old recipe: one plain stage at --n-iter (stages=None, no recipes)",
    )
    parser.add_argument("--max-t", type=int, default=None, help="default: 5 x --n-iter")
    parser.add_argument("--emb-sizes", type=int, nargs="+", default=[4, 8, 16, 32])
    parser.add_argument("--n-lipschitz", type=int, default=200, help="test LPs for L_t")
    parser.add_argument("--eps", type=float, default=1e-3, help="perturbation norm for L_t")
    parser.add_argument(
        "--threads",
        type=int,
        default=1,
        help="torch threads (1 is fastest for these small tensors on a shared CPU)",
    )
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument(
        "--device", default="auto", help='"auto" (CUDA when present), "cpu", "cuda"'
    )
    args = parser.parse_args(argv)
    n_train = args.n_train or (500 if args.quick else 2500)
    n_test = args.n_test or (200 if args.quick else 1000)
    epochs = args.epochs or (400 if args.quick else 320)
    if args.batch_size is None and not args.quick:
        args.batch_size = 500  # 5 Adam steps per epoch: the full run in about an hour
    train_depth = args.n_iter
    max_t = args.max_t or 5 * train_depth
    if max_t < 5 * train_depth:
        parser.error(f"--max-t must be at least 5 x the training depth ({5 * train_depth})")
    torch.set_num_threads(args.threads)
    warnings.filterwarnings("ignore", category=UserWarning, module="skorch")

    t0 = time.perf_counter()
    X, y, info = make_linear_programs(n_train + n_test, return_info=True, random_state=args.seed)
    X_train, y_train, X_test, y_test = X[:n_train], y[:n_train], X[n_train:], y[n_train:]
    print(
        f"data: {n_train} train / {n_test} test LPs (m=10, n=50, nnz=100); generated "
        f"{info['n_generated']}, dropped {info['n_dropped']} infeasible/unbounded "
        f"({time.perf_counter() - t0:.1f} s)"
    )
    implicit_kw = {"n_iter": args.n_iter}
    if args.one_stage:
        implicit_kw.update(stages=None, train_states=1, jacobian_penalty=0.0)
        recipe = f"one plain stage unrolled through {args.n_iter} iterations"
    else:
        implicit_kw.update(train_states=args.train_states, jacobian_penalty=args.jacobian_penalty)
        recipe = (
            f'stages="auto": {epochs - epochs // 4} epochs at {min(3, args.n_iter)} unrolled '
            f"iterations (lr {args.lr:g}), then {epochs // 4} at random depths with mean "
            f"{args.n_iter}, backpropagating through the last 3 steps (lr {args.lr / 10:g})"
        )
        if args.train_states > 1 or args.jacobian_penalty:
            recipe += (
                f", loss over {args.train_states} trajectory states, Jacobian penalty "
                f"{args.jacobian_penalty:g}"
            )
    print(
        f"training: Adam lr={args.lr}, batch {args.batch_size or 'full'}, {epochs} epochs for "
        f"both models, MSE; implicit: {recipe}; threads={args.threads}"
    )
    print(
        f"implicit error at the paper's t={PAPER_T} and at t={max_t} (the end of the solve, "
        f"{max_t / train_depth:g}x the training depth {train_depth}); conv = fraction of test LPs "
        f"with relative residual <= {CONVERGED:g} at t={max_t}; damped = error at t={max_t} "
        f"with solver__damping={DAMPING}"
    )
    print(f"zero predictor test error: {lp_relative_error(y_test, np.zeros_like(y_test)):.3f}")

    keys = ("implicit_params", "explicit_params", "implicit_error", "explicit_error")
    res = {k: [] for k in keys}
    res.update(implicit_error_end=[], converged_fraction=[], t_at_95=[], seconds=[])
    res.update(implicit_error_end_damped=[], converged_fraction_damped=[])
    models = {}
    header = f"{'emb':>4} | {'explicit params':>15} {'err':>6} {'s':>5} | "
    header += f"{'implicit params':>15} {'t=' + str(PAPER_T):>6} {'t=' + str(max_t):>6} "
    header += f"{'conv':>5} {'t95':>4} {'s':>5} | {'damped':>6} {'conv':>5} | paper exp/imp err"
    print(header)
    print("-" * len(header))
    for emb in args.emb_sizes:
        row = {}
        for kind, kw in (("explicit", {"architecture": "explicit"}), ("implicit", implicit_kw)):
            t = time.perf_counter()
            est = LPGNNRegressor(
                emb_size=emb,
                max_epochs=epochs,
                lr=args.lr,
                batch_size=args.batch_size,
                random_state=args.seed,
                device=args.device,
                **kw,
            ).fit(X_train, y_train)
            res[f"{kind}_params"].append(int(est.n_params_))
            if kind == "explicit":
                err = lp_relative_error(y_test, est.predict(X_test))
                res["explicit_error"].append(round(err, 4))
                row[kind] = (est.n_params_, err, time.perf_counter() - t)
            else:
                err8 = lp_relative_error(y_test, est.predict(X_test, n_iter=PAPER_T))
                pred, solve_info = est.solve(X_test, n_iter=max_t)
                err_end = lp_relative_error(y_test, pred)
                conv = float(np.mean(solve_info.residual <= CONVERGED))
                t95 = None
                if hasattr(est, "budget_curve"):
                    bc = est.budget_curve(
                        X_test, y_test, n_iter=max_t, scoring=_error_scorer, lipschitz=False
                    )
                    t95 = int(bc.budget_at(0.95))
                res["implicit_error"].append(round(err8, 4))
                res["implicit_error_end"].append(round(err_end, 4))
                res["converged_fraction"].append(round(conv, 4))
                # The same weights, solved with a damped iteration (the plain one can
                # settle on a period-2 cycle around the fixed point): a continued fit
                # of 0 epochs swaps the solver.
                damped = copy.deepcopy(est).set_params(
                    warm_start=True, max_epochs=0, solver__damping=DAMPING
                )
                pred, damped_info = damped.fit(X_train, y_train).solve(X_test, n_iter=max_t)
                res["implicit_error_end_damped"].append(round(lp_relative_error(y_test, pred), 4))
                res["converged_fraction_damped"].append(
                    round(float(np.mean(damped_info.residual <= CONVERGED)), 4)
                )
                res["t_at_95"].append(t95)
                row[kind] = (est.n_params_, err8, err_end, conv, t95, time.perf_counter() - t)
            res["seconds"].append(round(time.perf_counter() - t))
            models[(kind, emb)] = est
        paper = ""
        if emb in PAPER["emb_sizes"]:
            j = PAPER["emb_sizes"].index(emb)
            paper = f"{PAPER['explicit_error'][j]:.3f} / {PAPER['implicit_error'][j]:.3f}"
        p, e8, e_end, conv, t95, s = row["implicit"]
        print(
            f"{emb:>4} | {row['explicit'][0]:>15} {row['explicit'][1]:>6.3f} "
            f"{row['explicit'][2]:>5.0f} | {p:>15} {e8:>6.3f} {e_end:>6.3f} {conv:>5.2f} "
            f"{'-' if t95 is None else t95:>4} {s:>5.0f} | "
            f"{res['implicit_error_end_damped'][-1]:>6.3f} "
            f"{res['converged_fraction_damped'][-1]:>5.2f} | {paper}",
            flush=True,
        )

    emb = max(args.emb_sizes)
    est = models[("implicit", emb)]
    error_by_iter = [
        round(lp_relative_error(y_test, p), 4) for p in est.staged_predict(X_test, n_iter=max_t)
    ]
    X_lip = X_test[: args.n_lipschitz]
    curves = {
        b: est.lipschitz_curve(
            X_lip,
            n_iter=max_t,
            directions=LPBlocks(b),
            eps=args.eps,
            reduce="mean",
            random_state=0,
        ).lipschitz
        for b in BLOCKS
    }
    lipschitz_by_iter = [round(float(v), 4) for v in np.mean([curves[b] for b in BLOCKS], axis=0)]
    _, solve_info = est.solve(X_test, n_iter=max_t)
    trace = np.asarray(solve_info.residual_trace)
    residual_by_iter = [round(float(v), 6) for v in trace.mean(axis=1)] if trace.size else []
    print(f"\nimplicit emb-{emb} over iterations t (trained at depth {train_depth}):")
    print(
        f"{'t':>3} {'error':>7} {'L_t':>8} " + " ".join(f"{'L_t(' + b + ')':>10}" for b in BLOCKS)
    )
    shown = {1, *range(2, max_t + 1, max(1, max_t // 20)), *CURVE_T, max_t}
    shown = sorted(shown & set(range(1, max_t + 1)))
    for t in shown:
        print(
            f"{t:>3} {error_by_iter[t - 1]:>7.3f} {lipschitz_by_iter[t - 1]:>8.3f} "
            + " ".join(f"{curves[b][t - 1]:>10.3f}" for b in BLOCKS)
        )
    best = min(error_by_iter)
    print(
        f"emb-{emb}: error at t={max_t} {error_by_iter[-1]:.4f}, minimum over t {best:.4f} "
        f"(at t={int(np.argmin(error_by_iter)) + 1}); gap {error_by_iter[-1] - best:.4f}"
    )
    wins = [i < e for i, e in zip(res["implicit_error"], res["explicit_error"], strict=True)]
    wins_end = [
        i < e for i, e in zip(res["implicit_error_end"], res["explicit_error"], strict=True)
    ]
    print(f"\nimplicit < explicit at every emb size, t={PAPER_T}: {all(wins)} ({wins})")
    print(f"implicit < explicit at every emb size, t={max_t}: {all(wins_end)} ({wins_end})")
    if 4 in args.emb_sizes and 8 in args.emb_sizes:
        i4 = res["implicit_error"][args.emb_sizes.index(4)]
        e8 = res["explicit_error"][args.emb_sizes.index(8)]
        print(f"implicit-4 ({i4:.3f}) < explicit-8 ({e8:.3f}): {i4 < e8}")
    total = time.perf_counter() - t0
    print(f"total time {total:.0f} s")
    out = {
        "emb_sizes": list(args.emb_sizes),
        "implicit_params": res["implicit_params"],
        "explicit_params": res["explicit_params"],
        "implicit_error": res["implicit_error"],
        "explicit_error": res["explicit_error"],
        "error_by_iter": error_by_iter,
        "lipschitz_by_iter": lipschitz_by_iter,
        "train_depth": train_depth,
        "eval_t": PAPER_T,
        "max_t": max_t,
        "table": {
            f"t={PAPER_T}": {
                "implicit_error": res["implicit_error"],
                "explicit_error": res["explicit_error"],
            },
            f"t={max_t}": {
                "implicit_error": res["implicit_error_end"],
                "explicit_error": res["explicit_error"],
            },
        },
        "implicit_error_end": res["implicit_error_end"],
        "converged_fraction": res["converged_fraction"],
        "implicit_error_end_damped": res["implicit_error_end_damped"],
        "converged_fraction_damped": res["converged_fraction_damped"],
        "damping": DAMPING,
        "t_at_95": res["t_at_95"],
        "residual_by_iter": residual_by_iter,
        "epochs": epochs,
        "recipe": recipe,
        "seconds": round(total),
    }
    print(json.dumps(out))
    return out


if __name__ == "__main__":
    main()
