"""Paper Table 1 (linear programs): implicit vs explicit bipartite GNNs by embedding size.

Trains :class:`~sklearn_implicit.lp.LPGNNRegressor` implicit and explicit
(``architecture="explicit"``, two untied rounds) at each embedding size on
random LPs (m = 10, n = 50, nnz = 100, as the paper), prints parameters and the
paper's test error ``mean ||y_hat - y*|| / (||y*|| + 1)``, then the error and
the empirical Lipschitz constant ``L_t`` (mean over instances, random
directions on one LP block, averaged over the blocks A, b, c, l, u) over the
iterations ``t`` of the largest implicit model. Ends with one JSON line.

Training is full-batch Adam on the MSE as in the paper, but far shorter (the
paper: 10k epochs at 3 iterations, then 5k at 6); both models get the same
epochs. Input blocks and targets are scaled by their training standard
deviations (``normalize=True``, the estimators' default).

Usage::

    python benchmarks/lp_table.py --quick      # < 10 min on 2 CPU cores
    python benchmarks/lp_table.py              # paper sizes (2500 train / 1000 test), 400 epochs
"""

from __future__ import annotations

import argparse
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


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="small run (< 10 min on 2 cores)")
    parser.add_argument("--n-train", type=int, default=None)
    parser.add_argument("--n-test", type=int, default=None)
    parser.add_argument("--epochs", type=int, default=None, help="full-batch Adam epochs")
    parser.add_argument("--lr", type=float, default=1e-2)
    parser.add_argument(
        "--batch-size", type=int, default=None, help="LPs per Adam step (default: full batch)"
    )
    parser.add_argument("--n-iter", type=int, default=3, help="iterations of G in training")
    parser.add_argument("--eval-iter", type=int, default=None, help="default: --n-iter")
    parser.add_argument("--max-t", type=int, default=10, help="largest t of the curves")
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
    epochs = args.epochs or (300 if args.quick else 400)
    eval_iter = args.eval_iter or args.n_iter
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
    print(
        f"training: Adam lr={args.lr}, batch {args.batch_size or 'full'}, {epochs} epochs, "
        f"MSE, implicit unrolled "
        f"through {args.n_iter} iterations (evaluated at {eval_iter}); threads={args.threads}"
    )
    print(f"zero predictor test error: {lp_relative_error(y_test, np.zeros_like(y_test)):.3f}")

    res = {k: [] for k in ("implicit_params", "explicit_params", "implicit_error")}
    res["explicit_error"] = []
    models = {}
    header = f"{'emb':>4} | {'explicit params':>15} {'err':>6} {'s':>5} | "
    header += f"{'implicit params':>15} {'err':>6} {'s':>5} | paper exp/imp err"
    print(header)
    print("-" * len(header))
    for emb in args.emb_sizes:
        row = {}
        for kind, kw in (
            ("explicit", {"architecture": "explicit"}),
            ("implicit", {"n_iter": args.n_iter}),
        ):
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
            pred = (
                est.predict(X_test, n_iter=eval_iter) if kind == "implicit" else est.predict(X_test)
            )
            err = lp_relative_error(y_test, pred)
            res[f"{kind}_params"].append(int(est.n_params_))
            res[f"{kind}_error"].append(round(err, 4))
            row[kind] = (est.n_params_, err, time.perf_counter() - t)
            models[(kind, emb)] = est
        paper = ""
        if emb in PAPER["emb_sizes"]:
            j = PAPER["emb_sizes"].index(emb)
            paper = f"{PAPER['explicit_error'][j]:.3f} / {PAPER['implicit_error'][j]:.3f}"
        print(
            f"{emb:>4} | {row['explicit'][0]:>15} {row['explicit'][1]:>6.3f} "
            f"{row['explicit'][2]:>5.0f} | {row['implicit'][0]:>15} {row['implicit'][1]:>6.3f} "
            f"{row['implicit'][2]:>5.0f} | {paper}",
            flush=True,
        )

    emb = max(args.emb_sizes)
    est = models[("implicit", emb)]
    error_by_iter = [
        round(lp_relative_error(y_test, p), 4)
        for p in est.staged_predict(X_test, n_iter=args.max_t)
    ]
    X_lip = X_test[: args.n_lipschitz]
    curves = {
        b: est.lipschitz_curve(
            X_lip,
            n_iter=args.max_t,
            directions=LPBlocks(b),
            eps=args.eps,
            reduce="mean",
            random_state=0,
        ).lipschitz
        for b in BLOCKS
    }
    lipschitz_by_iter = [round(float(v), 4) for v in np.mean([curves[b] for b in BLOCKS], axis=0)]
    print(f"\nimplicit emb-{emb} over iterations t (trained at {args.n_iter}):")
    print(
        f"{'t':>3} {'error':>7} {'L_t':>8} " + " ".join(f"{'L_t(' + b + ')':>10}" for b in BLOCKS)
    )
    for t in range(args.max_t):
        print(
            f"{t + 1:>3} {error_by_iter[t]:>7.3f} {lipschitz_by_iter[t]:>8.3f} "
            + " ".join(f"{curves[b][t]:>10.3f}" for b in BLOCKS)
        )
    wins = [i < e for i, e in zip(res["implicit_error"], res["explicit_error"], strict=True)]
    print(f"\nimplicit < explicit at every emb size: {all(wins)} ({wins})")
    if 4 in args.emb_sizes and 8 in args.emb_sizes:
        i4 = res["implicit_error"][args.emb_sizes.index(4)]
        e8 = res["explicit_error"][args.emb_sizes.index(8)]
        print(f"implicit-4 ({i4:.3f}) < explicit-8 ({e8:.3f}): {i4 < e8}")
    print(f"total time {time.perf_counter() - t0:.0f} s")
    out = {
        "emb_sizes": list(args.emb_sizes),
        "implicit_params": res["implicit_params"],
        "explicit_params": res["explicit_params"],
        "implicit_error": res["implicit_error"],
        "explicit_error": res["explicit_error"],
        "error_by_iter": error_by_iter,
        "lipschitz_by_iter": lipschitz_by_iter,
    }
    print(json.dumps(out))
    return out


if __name__ == "__main__":
    main()
