"""``python -m sklearn_implicit demo --task looped``: loops vs accuracy on pointer chasing."""

from __future__ import annotations

import time
import warnings

import numpy as np

__all__ = ["run", "training_mixture"]


def training_mixture(n_per_level, *, n_nodes=32, levels=(2, 4, 8, 16, 32), random_state=0):
    """Pointer-chasing sequences at several difficulties (``n_hops`` levels), shuffled.

    Mixing easy and hard instances gives the model a curriculum: short
    chains teach the one-hop look-up that long chains repeat.

    Parameters
    ----------
    n_per_level : int
        Sequences per difficulty level.
    n_nodes : int, default=32
        Sequence length.
    levels : sequence of int, default=(2, 4, 8, 16, 32)
        The ``n_hops`` of each level.
    random_state : int, default=0
        Seed.

    Returns
    -------
    X, y : ndarray of shape (n_per_level * len(levels), n_nodes)
    """
    from ._data import make_pointer_chasing

    parts = [
        make_pointer_chasing(
            n_per_level, n_nodes=n_nodes, n_hops=h, random_state=random_state + 1000 * h
        )
        for h in levels
    ]
    X = np.concatenate([p[0] for p in parts])
    y = np.concatenate([p[1] for p in parts])
    order = np.random.RandomState(random_state).permutation(len(X))
    return X[order], y[order]


def run(*, quick: bool = True, seed: int = 0, output: str | None = None) -> dict:
    """Train a small looped transformer and its untied baseline on pointer chasing.

    Parameters
    ----------
    quick : bool, default=True
        Short training (under a minute on a CPU); False trains longer
        (a few minutes) and reaches higher accuracy.
    seed : int, default=0
        Seed of the data and the models.
    output : str, optional
        Path of a PNG with accuracy and the Levenshtein ratio over loops.

    Returns
    -------
    dict
        ``loops``, ``accuracy_by_loops`` (per-token test accuracy),
        ``levenshtein_by_loops`` (mean Levenshtein ratio over contrast pairs
        one token apart, see ``make_pointer_chasing(return_pairs=True)``),
        ``accuracy_explicit``, ``n_params_looped``, ``n_params_explicit``,
        ``seconds``.
    """
    from ..utils import torch_threads

    with torch_threads(1), warnings.catch_warnings():  # tiny blocks
        warnings.filterwarnings("ignore", category=UserWarning, module="skorch")
        return _run(quick=quick, seed=seed, output=output)


def _run(*, quick, seed, output):
    from ..lipschitz import GivenPairs
    from . import LoopedTransformerClassifier, levenshtein_rows, token_accuracy
    from ._data import make_pointer_chasing

    start = time.perf_counter()
    # Chains up to the longest the sequence holds, so that the test set needs
    # more loops than the training mean reaches (about two hops per loop).
    n_nodes, levels = (24, (2, 4, 8, 16, 24)) if quick else (32, (2, 4, 8, 16, 32))
    n_per_level, epochs, batch = (2000, 4, 32) if quick else (3200, 6, 64)
    X, y = training_mixture(n_per_level, n_nodes=n_nodes, levels=levels, random_state=seed)
    X_test, y_test, X_pair, _ = make_pointer_chasing(
        400, n_nodes=n_nodes, n_hops=levels[-1], random_state=seed + 1, return_pairs=True
    )
    loops = [1, 2, 4, 8, 16]
    common = {"d_model": 64, "max_epochs": epochs, "batch_size": batch, "random_state": seed}
    mean_recurrence = 6 if quick else 8
    looped = LoopedTransformerClassifier(
        mean_recurrence=mean_recurrence, n_iter=max(loops), **common
    )
    looped.fit(X, y)
    explicit = LoopedTransformerClassifier(architecture="explicit", **common).fit(X, y)
    stages = list(looped.staged_predict(X_test, n_iter=max(loops)))
    acc = [token_accuracy(y_test, stages[t - 1]) for t in loops]
    pairs = GivenPairs(X_pair[:100], distance=levenshtein_rows)
    curve = looped.lipschitz_curve(X_test[:100], n_iter=max(loops), directions=pairs, reduce="mean")
    lev = [float(curve.lipschitz[t - 1]) for t in loops]
    acc_exp = token_accuracy(y_test, explicit.predict(X_test))
    print(
        f"Looped transformer demo: pointer chasing, {n_nodes} nodes, {len(X)} training "
        f"sequences (n_hops in {list(levels)}), test at n_hops={levels[-1]}"
    )
    print(f"{'model':<22} {'params':>7} {'token accuracy':>15}")
    print(f"{'untied (1 layer)':<22} {explicit.n_params_:>7} {acc_exp:>15.3f}")
    print(f"{'looped, t=' + str(max(loops)):<22} {looped.n_params_:>7} {acc[-1]:>15.3f}")
    print(f"{'loops t':>7} {'accuracy':>9} {'Levenshtein ratio':>18}")
    for t, a, r in zip(loops, acc, lev, strict=True):
        print(f"{t:>7} {a:>9.3f} {r:>18.3f}")
    if output is not None:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt

        fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(9, 3.5))
        ax1.plot(loops, acc, "o-", label="looped")
        ax1.axhline(acc_exp, color="C1", ls="--", label="untied, same params")
        ax1.set(xscale="log", xlabel="loops t", ylabel="token accuracy", title="Accuracy")
        ax1.legend()
        ax2.plot(loops, lev, "o-")
        ax2.set(
            xscale="log",
            xlabel="loops t",
            ylabel="Levenshtein(out) / Levenshtein(in)",
            title="Levenshtein 'Lipschitz' ratio",
        )
        fig.tight_layout()
        fig.savefig(output, dpi=100)
        plt.close(fig)
    seconds = time.perf_counter() - start
    print(f"({seconds:.0f} s)")
    return {
        "loops": loops,
        "accuracy_by_loops": [float(a) for a in acc],
        "levenshtein_by_loops": lev,
        "accuracy_explicit": float(acc_exp),
        "n_params_looped": int(looped.n_params_),
        "n_params_explicit": int(explicit.n_params_),
        "seconds": seconds,
    }
