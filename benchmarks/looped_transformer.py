"""Looped transformer (paper's LLM case at laptop scale): accuracy and Levenshtein ratio vs loops.

Trains :class:`~sklearn_implicit.looped.LoopedTransformerClassifier` on multi-hop
pointer chasing (:func:`~sklearn_implicit.datasets.make_pointer_chasing`, 32
nodes; training data mix chains of up to 2, 4, 8, 16 and 32 hops) with the
recurrent-depth recipe (loop count per batch ~ Poisson log-normal with mean
``--mean-recurrence``, backpropagation through the last ``--backprop-depth``
loops), and the explicit baseline (``architecture="explicit"``: the core block
untied, one layer: the same parameter count). Then, for every loop budget
``t`` in ``--loops``:

* per-token accuracy on a test set at the hardest training difficulty
  (``--test-hops``; chains up to 31 hops, the most 32 nodes hold), on its
  nodes deeper than ``--deep-hops`` (16: more hops than the training mean of
  8 loops covers, at about two hops per loop) and on a harder set made of
  long chains only (``--hard-hops``, ``--hard-min-hops``: 16 to 31 hops);
* the paper's Levenshtein "Lipschitz" ratio, mean over pairs of inputs one
  token apart of Levenshtein(y_t(x), y_t(x')) / Levenshtein(x, x'), on
  *contrast pairs*, the analogue of the paper's semantic contrast pairs (an
  edit chosen to change the meaning). Headline ``levenshtein_by_loops``:
  ``make_pointer_chasing(return_pairs=True)``, one uniform node re-pointed so
  that the answers of its subtree change. Also reported:
  ``levenshtein_root_edit_by_loops`` (``pair_edit="root"``: the root of one
  chain re-pointed into another chain, so that every answer of that chain
  changes), random one-token substitutions (which may create cycles: inputs
  off the data distribution) -> ``levenshtein_random_by_loops``, the ratio on
  the harder instances (``levenshtein_hard_by_loops``), and for both kinds of
  pairs a split of the output changes into positions whose correct answer
  changes and the others.

The loops run to 40, five times the training mean of 8 (``--loops``). The
test accuracy over every ``t = 1..T`` comes from one trajectory
(``budget_curve``), which also gives ``t_at_95``, the smallest ``t``
reaching 95 % of the fitted gain of the accuracy curve.

Ends with one JSON line (keys ``loops``, ``accuracy_by_loops``,
``levenshtein_by_loops``, ``accuracy_explicit``, ``n_params_looped``,
``n_params_explicit``, then extras, among them ``train_depth`` (the mean
recurrence), ``converged_fraction`` (the task's stopping rule: the fraction of
test sequences whose predicted tokens at the largest ``t`` are those at
``t - 1``), ``converged_fraction_latent`` (the latent-state rule of the
adaptive exit: relative change <= ``--tol`` within ``T`` loops) and
``t_at_95``).

Usage::

    python benchmarks/looped_transformer.py --quick   # < 10 min on 2 CPU cores
    python benchmarks/looped_transformer.py           # more data and epochs
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
from sklearn_implicit.lipschitz import GivenPairs
from sklearn_implicit.looped import (
    LoopedTransformerClassifier,
    levenshtein_rows,
    sequence_accuracy,
    token_accuracy,
)

#: The paper's Levenshtein ratio is a mean over pairs (``eps`` is unused by token edits).
MEAN = {"reduce": "mean"}


def training_mixture(n_per_level, n_nodes, levels, seed):
    """Pointer-chasing sequences at several difficulties, shuffled together."""
    parts = [
        make_pointer_chasing(n_per_level, n_nodes=n_nodes, n_hops=h, random_state=seed + 1000 * h)
        for h in levels
    ]
    X = np.concatenate([p[0] for p in parts])
    y = np.concatenate([p[1] for p in parts])
    order = np.random.RandomState(seed).permutation(len(X))
    return X[order], y[order]


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="small run (< 10 min on 2 cores)")
    parser.add_argument("--n-nodes", type=int, default=32, help="sequence length")
    parser.add_argument("--train-hops", type=int, nargs="+", default=[2, 4, 8, 16, 32])
    parser.add_argument("--test-hops", type=int, default=32)
    parser.add_argument("--hard-hops", type=int, default=32)
    parser.add_argument("--hard-min-hops", type=int, default=16, help="shortest hard chain")
    parser.add_argument(
        "--deep-hops", type=int, default=16, help="accuracy also on test nodes deeper than this"
    )
    parser.add_argument("--n-train", type=int, default=None, help="sequences per training level")
    parser.add_argument("--n-test", type=int, default=1000)
    parser.add_argument("--epochs", type=int, default=None)
    parser.add_argument("--d-model", type=int, default=64)
    parser.add_argument("--mean-recurrence", type=float, default=8.0)
    parser.add_argument("--backprop-depth", type=int, default=4)
    parser.add_argument(
        "--loops", type=int, nargs="+", default=[1, 2, 3, 4, 6, 8, 12, 16, 24, 32, 40]
    )
    parser.add_argument("--n-lipschitz", type=int, default=250, help="test sequences for L_t")
    parser.add_argument(
        "--tol", type=float, default=0.03, help="adaptive exit (Huginn's latent-diff default)"
    )
    parser.add_argument(
        "--threads",
        type=int,
        default=1,
        help="torch threads (1: fastest for tiny blocks, shared CPU)",
    )
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument(
        "--device", default="auto", help='"auto" (CUDA when present), "cpu", "cuda"'
    )
    args = parser.parse_args(argv)
    n_train = args.n_train or (3200 if args.quick else 8000)
    epochs = args.epochs or (6 if args.quick else 12)
    torch.set_num_threads(args.threads)
    warnings.filterwarnings("ignore", category=UserWarning, module="skorch")
    loops = sorted(set(args.loops))
    T = max(loops)

    t0 = time.perf_counter()
    X, y = training_mixture(n_train, args.n_nodes, args.train_hops, args.seed)
    X_test, y_test, d_test, X_pair, y_pair = make_pointer_chasing(
        args.n_test,
        n_nodes=args.n_nodes,
        n_hops=args.test_hops,
        random_state=args.seed + 1,
        return_depth=True,
        return_pairs=True,
    )
    # The same test sequences (pairs are drawn after the data), other partners.
    *_, X_rpair, y_rpair = make_pointer_chasing(
        args.n_test,
        n_nodes=args.n_nodes,
        n_hops=args.test_hops,
        random_state=args.seed + 1,
        return_pairs=True,
        pair_edit="root",
    )
    X_hard, y_hard, d_hard, X_hard_pair, _ = make_pointer_chasing(
        args.n_test,
        n_nodes=args.n_nodes,
        n_hops=args.hard_hops,
        min_hops=args.hard_min_hops,
        random_state=args.seed + 2,
        return_depth=True,
        return_pairs=True,
    )
    print(
        f"data: {len(X)} training sequences ({n_train} each at n_hops={args.train_hops}), "
        f"{args.n_nodes} nodes; test n_hops={args.test_hops} (mean depth "
        f"{d_test.mean():.1f}, max {d_test.max()}); hard {args.hard_min_hops} to {args.hard_hops} hops (mean depth "
        f"{d_hard.mean():.1f}, max {d_hard.max()})"
    )
    common = {
        "d_model": args.d_model,
        "max_epochs": epochs,
        "random_state": args.seed,
        "optimizer__weight_decay": 0.01,
        "device": args.device,
    }
    t = time.perf_counter()
    looped = LoopedTransformerClassifier(
        mean_recurrence=args.mean_recurrence,
        backprop_depth=args.backprop_depth,
        n_iter=T,
        **common,
    ).fit(X, y)
    fit_looped = time.perf_counter() - t
    print(
        f"looped: {looped.n_params_} params, {epochs} epochs, mean recurrence "
        f"{args.mean_recurrence}, backprop depth {args.backprop_depth}: {fit_looped:.0f} s, "
        f"final loss {looped.loss_curve_[-1]:.4f}",
        flush=True,
    )
    t = time.perf_counter()
    explicit = LoopedTransformerClassifier(architecture="explicit", n_layers=1, **common).fit(X, y)
    fit_explicit = time.perf_counter() - t
    acc_exp = token_accuracy(y_test, explicit.predict(X_test))
    acc_exp_hard = token_accuracy(y_hard, explicit.predict(X_hard))
    exact_exp = sequence_accuracy(y_test, explicit.predict(X_test))
    print(
        f"explicit (untied, 1 layer): {explicit.n_params_} params: {fit_explicit:.0f} s, "
        f"final loss {explicit.loss_curve_[-1]:.4f}; test accuracy {acc_exp:.3f}, "
        f"hard {acc_exp_hard:.3f}",
        flush=True,
    )

    # The test set over every budget t = 1..T from one trajectory: the budget
    # curve's scorer keeps each stage's predictions.
    test_stages = []

    def keep_accuracy(est, Xs, ys):
        pred = est.predict(Xs)
        test_stages.append(pred)
        return token_accuracy(ys, pred)

    budget = looped.budget_curve(X_test, y_test, n_iter=T, scoring=keep_accuracy, lipschitz=False)
    t_at_95 = budget.budget_at(0.95)
    # The task's stopping rule: the answer no longer changes from one loop to the next.
    converged = float((test_stages[-1] == test_stages[-2]).all(axis=1).mean()) if T > 1 else 0.0
    stages = {"test": {k: test_stages[k - 1] for k in loops}, "hard": {}}
    for k, pred in enumerate(looped.staged_predict(X_hard, n_iter=T), start=1):
        if k in loops:
            stages["hard"][k] = pred
    acc = [round(token_accuracy(y_test, stages["test"][k]), 4) for k in loops]
    exact = [round(sequence_accuracy(y_test, stages["test"][k]), 4) for k in loops]
    acc_hard = [round(token_accuracy(y_hard, stages["hard"][k]), 4) for k in loops]
    deep = d_test > args.deep_hops
    acc_deep = [round(float((stages["test"][k][deep] == y_test[deep]).mean()), 4) for k in loops]
    acc_exp_deep = float((explicit.predict(X_test)[deep] == y_test[deep]).mean())
    n_lip = args.n_lipschitz
    X_lip = X_test[:n_lip]
    stages_a = [pred[:n_lip] for pred in test_stages]

    def pair_curves(Xp, yp):
        """Levenshtein ratio over loops, the explicit model's, and the split of changes."""
        pairs = GivenPairs(Xp, distance=levenshtein_rows)
        ratio = looped.lipschitz_curve(X_lip, n_iter=T, directions=pairs, **MEAN).lipschitz
        ratio_exp = explicit.lipschitz_curve(X_lip, n_iter=1, directions=pairs, **MEAN).lipschitz[0]
        # Where do the outputs of a contrast pair differ? At positions whose correct
        # answer differs (the change propagated) or elsewhere (spurious changes).
        answer_changes = y_test[:n_lip] != yp
        stages_b = list(looped.staged_predict(Xp, n_iter=T))
        changed = [stages_a[k - 1] != stages_b[k - 1] for k in loops]
        return {
            "lev": [round(float(ratio[k - 1]), 4) for k in loops],
            "lev_exp": round(float(ratio_exp), 4),
            "truth": round(float(levenshtein_rows(y_test[:n_lip], yp).mean()), 4),
            "where": [round(float((c & answer_changes).sum(1).mean()), 4) for c in changed],
            "else": [round(float((c & ~answer_changes).sum(1).mean()), 4) for c in changed],
        }

    node = pair_curves(X_pair[:n_lip], y_pair[:n_lip])
    root = pair_curves(X_rpair[:n_lip], y_rpair[:n_lip])
    lev, lev_exp, truth_lev = node["lev"], node["lev_exp"], node["truth"]
    hard_pairs = GivenPairs(X_hard_pair[:n_lip], distance=levenshtein_rows)
    curve_hard = looped.lipschitz_curve(X_hard[:n_lip], n_iter=T, directions=hard_pairs, **MEAN)
    lev_hard = [round(float(curve_hard.lipschitz[k - 1]), 4) for k in loops]
    curve_rnd = looped.lipschitz_curve(
        X_lip, n_iter=T, n_directions=4, random_state=args.seed, **MEAN
    )
    lev_rnd = [round(float(curve_rnd.lipschitz[k - 1]), 4) for k in loops]
    lev_rnd_exp = explicit.lipschitz_curve(
        X_lip, n_iter=1, n_directions=4, random_state=args.seed, **MEAN
    )
    lev_rnd_exp = round(float(lev_rnd_exp.lipschitz[0]), 4)
    # Adaptive exit: stop a sample once its latent state changes by less than tol
    # (samples that never get there run all T loops; the warning says how many).
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        _, info = looped.solve(X_hard, n_iter=T, tol=args.tol)
        pred_exit = looped.predict(X_hard, n_iter=T, tol=args.tol)
        _, info_test = looped.solve(X_test, n_iter=T, tol=args.tol)
    converged_latent = float(np.mean(info_test.converged))
    acc_exit = token_accuracy(y_hard, pred_exit)

    print(
        f"\n{'t':>3} {'acc':>7} {'exact':>7} {'acc deep':>9} {'acc hard':>9} {'Lev (pairs)':>12} "
        f"{'Lev (random)':>13}"
    )
    for i, k in enumerate(loops):
        print(
            f"{k:>3} {acc[i]:>7.3f} {exact[i]:>7.3f} {acc_deep[i]:>9.3f} {acc_hard[i]:>9.3f} "
            f"{lev[i]:>12.3f} "
            f"{lev_rnd[i]:>13.3f}"
        )
    print(
        f"explicit: acc {acc_exp:.3f}, exact {exact_exp:.3f}, deep {acc_exp_deep:.3f}, "
        f"hard {acc_exp_hard:.3f}, "
        f"Levenshtein node-edit pairs {lev_exp:.3f}, random {lev_rnd_exp:.3f}"
    )
    for name, res in (("node-edit", node), ("root-edit", root)):
        print(
            f"{name} pairs: explicit Levenshtein {res['lev_exp']:.3f}, correct answers "
            f"{res['truth']:.3f}"
        )
        print(f"{'t':>3} {'Lev ratio':>10} {'changed where answer changes':>29} {'elsewhere':>10}")
        for i, k in enumerate(loops):
            print(f"{k:>3} {res['lev'][i]:>10.3f} {res['where'][i]:>29.3f} {res['else'][i]:>10.3f}")
    print(f"node-edit pairs on the hard set, Levenshtein ratio: {lev_hard}")
    print(
        f"adaptive exit (tol={args.tol}, at most {T} loops) on hard: mean loops "
        f"{info.n_steps.mean():.1f}, accuracy {acc_exit:.3f}"
    )
    gain = acc[-1] - acc[0]
    print(
        f"accuracy gain t={loops[0]} -> t={loops[-1]}: {gain:+.3f}; Levenshtein ratio "
        f"{lev[0]:.2f} -> {lev[-1]:.2f}"
    )
    print(
        f"training depth (mean recurrence) {args.mean_recurrence:g}; at t = {T}: "
        f"{converged:.3f} of the test sequences predict the same tokens as at t = {T - 1}, "
        f"{converged_latent:.3f} reach a latent change <= {args.tol} within {T} loops; "
        f"95 % of the fitted accuracy gain at t = {t_at_95} (asymptote "
        f"{budget.asymptote:.4f}, rate {budget.rate:.2f}, {budget.fit_status})"
    )
    seconds = time.perf_counter() - t0
    print(f"total time {seconds:.0f} s")
    out = {
        "loops": loops,
        "accuracy_by_loops": acc,
        "levenshtein_by_loops": lev,
        "accuracy_explicit": round(acc_exp, 4),
        "n_params_looped": int(looped.n_params_),
        "n_params_explicit": int(explicit.n_params_),
        "accuracy_metric": "per-token",
        "exact_match_by_loops": exact,
        "exact_match_explicit": round(exact_exp, 4),
        "accuracy_deep_by_loops": acc_deep,
        "accuracy_explicit_deep": round(acc_exp_deep, 4),
        "deep_hops": args.deep_hops,
        "n_deep_nodes": int(deep.sum()),
        "accuracy_hard_by_loops": acc_hard,
        "accuracy_explicit_hard": round(acc_exp_hard, 4),
        "levenshtein_explicit": lev_exp,
        "levenshtein_truth": truth_lev,
        "output_changes_where_answer_changes_by_loops": node["where"],
        "output_changes_elsewhere_by_loops": node["else"],
        "levenshtein_root_edit_by_loops": root["lev"],
        "levenshtein_root_edit_explicit": root["lev_exp"],
        "levenshtein_root_edit_truth": root["truth"],
        "root_edit_changes_where_answer_changes_by_loops": root["where"],
        "root_edit_changes_elsewhere_by_loops": root["else"],
        "levenshtein_hard_by_loops": lev_hard,
        "levenshtein_random_by_loops": lev_rnd,
        "levenshtein_random_explicit": lev_rnd_exp,
        "adaptive_exit": {
            "tol": args.tol,
            "mean_loops": round(float(info.n_steps.mean()), 2),
            "accuracy_hard": round(acc_exit, 4),
        },
        "train_hops": list(args.train_hops),
        "test_hops": args.test_hops,
        "hard_hops": args.hard_hops,
        "hard_min_hops": args.hard_min_hops,
        "mean_recurrence": args.mean_recurrence,
        "backprop_depth": args.backprop_depth,
        "epochs": epochs,
        "train_depth": args.mean_recurrence,
        "converged_fraction": round(converged, 4),
        "converged_definition": "test sequences whose predicted tokens at the largest t "
        "equal those at t - 1",
        "converged_fraction_latent": round(converged_latent, 4),
        "t_at_95": t_at_95,
        "accuracy_asymptote": round(float(budget.asymptote), 4),
        "seconds": round(seconds, 1),
    }
    print(json.dumps(out))
    return out


if __name__ == "__main__":
    main()
