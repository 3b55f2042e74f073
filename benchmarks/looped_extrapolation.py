"""Train small, predict big: a looped transformer on longer pointer chains by looping more.

Trains :class:`~sklearn_implicit.looped.LoopedTransformerClassifier` with
``positions="pointer"`` (random per-sequence node codes, pointers embedded by
the code of the position they point to, answers read out by similarity to the
node codes) on multi-hop pointer chasing
(:func:`~sklearn_implicit.datasets.make_pointer_chasing`) with at most
``--train-nodes`` nodes (16), then measures per-token accuracy on sequences of
``--test-nodes`` nodes (16, 32, 64; chains of up to ``n - 1`` hops, so a
longer sequence holds deeper chains) after every loop budget in ``--loops``
(1..128), all budgets from one trajectory per size (``staged_predict``).

The law to see: accuracy at sizes never seen in training rises with the
number of loops, and the loops needed (``loops_to_95``: the smallest budget
reaching 95 % of that size's best accuracy) grow with the size.

Ends with one JSON line: ``test_nodes``, ``loops``, ``accuracy`` (one list over
``loops`` per test size), ``loops_to_95`` (per size), then extras
(``train_nodes``, ``mean_depth``, ``seconds``, ``n_params``, ...).

Usage::

    python benchmarks/looped_extrapolation.py --quick   # < 10 min on 2 CPU cores, 1 thread
    python benchmarks/looped_extrapolation.py           # more data and epochs
"""

from __future__ import annotations

import argparse
import json
import time
import warnings

import numpy as np
import torch
from sklearn.exceptions import ConvergenceWarning

from sklearn_implicit.datasets import make_pointer_chasing
from sklearn_implicit.looped import LoopedTransformerClassifier, token_accuracy


def training_mixture(n_per_level, n_nodes, levels, seed):
    """Pointer-chasing sequences of ``n_nodes`` (int or range) at several difficulties."""
    parts = [
        make_pointer_chasing(n_per_level, n_nodes=n_nodes, n_hops=h, random_state=seed + 1000 * h)
        for h in levels
    ]
    X = np.concatenate([p[0] for p in parts])
    y = np.concatenate([p[1] for p in parts])
    order = np.random.RandomState(seed).permutation(len(X))
    return X[order], y[order]


def loops_to(accuracy, loops, fraction=0.95):
    """Smallest budget whose accuracy reaches ``fraction`` of the best one."""
    best = max(accuracy)
    return next(t for t, a in zip(loops, accuracy) if a >= fraction * best)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="small run (< 10 min on 2 cores)")
    parser.add_argument("--train-nodes", type=int, default=16, help="longest training sequence")
    parser.add_argument("--min-train-nodes", type=int, default=8, help="shortest training one")
    parser.add_argument("--train-hops", type=int, nargs="+", default=[2, 4, 8, 15])
    parser.add_argument("--test-nodes", type=int, nargs="+", default=[16, 32, 64])
    parser.add_argument("--loops", type=int, nargs="+", default=[1, 2, 4, 8, 16, 32, 64, 128])
    parser.add_argument("--n-train", type=int, default=None, help="sequences per training level")
    parser.add_argument("--n-test", type=int, default=None, help="test sequences per size")
    parser.add_argument("--epochs", type=int, default=None)
    parser.add_argument("--d-model", type=int, default=64)
    parser.add_argument("--mean-recurrence", type=float, default=8.0)
    parser.add_argument("--backprop-depth", type=int, default=4)
    parser.add_argument("--lr", type=float, default=2e-3)
    parser.add_argument("--threads", type=int, default=1, help="torch threads")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    n_train = args.n_train or (3000 if args.quick else 8000)
    n_test = args.n_test or (200 if args.quick else 1000)
    epochs = args.epochs or (32 if args.quick else 24)
    torch.set_num_threads(args.threads)
    warnings.filterwarnings("ignore", category=UserWarning, module="skorch")
    loops = sorted(set(args.loops))

    t0 = time.perf_counter()
    X, y = training_mixture(
        n_train, (args.min_train_nodes, args.train_nodes), args.train_hops, args.seed
    )
    est = LoopedTransformerClassifier(
        d_model=args.d_model,
        positions="pointer",
        mean_recurrence=args.mean_recurrence,
        backprop_depth=args.backprop_depth,
        n_iter=int(args.mean_recurrence),
        max_epochs=epochs,
        lr=args.lr,
        random_state=args.seed,
    ).fit(X, y)
    fit_seconds = time.perf_counter() - t0
    print(f"fit: {fit_seconds:.0f} s, loss {est.loss_curve_[0]:.3f} -> {est.loss_curve_[-1]:.3f}")

    accuracy, mean_depth = [], []
    for n in args.test_nodes:
        X_test, y_test, depth = make_pointer_chasing(
            n_test, n_nodes=n, n_hops=n - 1, random_state=args.seed + 10 + n, return_depth=True
        )
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)
            stages = list(est.staged_predict(X_test, n_iter=max(loops)))
        acc = [round(token_accuracy(y_test, stages[t - 1]), 4) for t in loops]
        accuracy.append(acc)
        mean_depth.append(round(float(depth.mean()), 2))
        print(f"{n} nodes (mean depth {mean_depth[-1]}): " + " ".join(map(str, acc)), flush=True)

    result = {
        "test_nodes": list(args.test_nodes),
        "loops": loops,
        "accuracy": accuracy,
        "loops_to_95": [loops_to(acc, loops) for acc in accuracy],
        "train_nodes": [args.min_train_nodes, args.train_nodes],
        "train_hops": list(args.train_hops),
        "mean_depth": mean_depth,
        "mean_recurrence": args.mean_recurrence,
        "n_params": int(est.n_params_),
        "final_loss": round(float(est.loss_curve_[-1]), 4),
        "fit_seconds": round(fit_seconds, 1),
        "seconds": round(time.perf_counter() - t0, 1),
        "quick": bool(args.quick),
    }
    print(json.dumps(result))


if __name__ == "__main__":
    main()
