"""
Thinking longer: a looped transformer on multi-hop pointer chasing
==================================================================

:class:`~sklearn_implicit.looped.LoopedTransformerClassifier` embeds a token
sequence (the *prelude*), iterates one shared transformer block with input
injection ``t`` times (the *recurrent core*) and reads out a token at every
position (the *coda*). It is trained with a random number of loops per batch
(heavy-tailed, mean ``mean_recurrence``) and backpropagates through the last
few loops only, so at test time ``predict(X, n_iter=t)`` can spend more
loops than it was trained with.

The task (:func:`~sklearn_implicit.datasets.make_pointer_chasing`): token
``X[j]`` is the parent of node ``j`` in a forest of chains, and the answer
``y[j]`` is the root of ``j``'s chain. Deeper nodes need more look-ups, so
accuracy rises with the loops. We also measure the paper's *Levenshtein
"Lipschitz" ratio* (how far the outputs move, in edit distance, when one
input token changes; 29 -> 53 over the loops of the paper's looped language
model) and split the output changes into those the correct answer asks for
and spurious ones.
"""

# %%
# Data: chains of up to 2, 4, 8, 16 and 24 hops
# ---------------------------------------------
# Training mixes difficulties (a curriculum: short chains teach the one-hop
# look-up that long chains repeat), up to the longest chains 24 nodes hold.
# The test set has the hardest training difficulty, so its deepest nodes need
# more loops than the training mean.
import matplotlib.pyplot as plt
import numpy as np
import torch

from sklearn_implicit.datasets import make_pointer_chasing
from sklearn_implicit.lipschitz import GivenPairs
from sklearn_implicit.looped import (
    LoopedTransformerClassifier,
    levenshtein,
    levenshtein_rows,
    token_accuracy,
)

torch.set_num_threads(1)  # tiny blocks: extra threads only add synchronisation
n_nodes = 24
parts = [
    make_pointer_chasing(2000, n_nodes=n_nodes, n_hops=h, random_state=h) for h in (2, 4, 8, 16, 24)
]
X = np.concatenate([p[0] for p in parts])
y = np.concatenate([p[1] for p in parts])
# ``return_pairs`` adds a contrast partner of every test sequence, one token
# apart: one node re-pointed so that the roots of its whole subtree change.
X_test, y_test, depth, X_pair, y_pair = make_pointer_chasing(
    400, n_nodes=n_nodes, n_hops=24, random_state=100, return_depth=True, return_pairs=True
)
print("input (parents):", X_test[0])
print("target (roots): ", y_test[0])
print("depths:         ", depth[0])

# %%
# Train the looped model and the untied baseline (same parameter count)
# ---------------------------------------------------------------------
# The baseline (``architecture="explicit"``) runs the core block once, with
# its own weights: exactly the parameters of the looped model, but a fixed
# depth.
common = dict(d_model=64, max_epochs=4, batch_size=32, random_state=0)
looped = LoopedTransformerClassifier(mean_recurrence=6, backprop_depth=4, **common).fit(X, y)
untied = LoopedTransformerClassifier(architecture="explicit", n_layers=1, **common).fit(X, y)
acc_untied = token_accuracy(y_test, untied.predict(X_test))
print(f"parameters: looped {looped.n_params_}, untied {untied.n_params_}")
print(f"untied baseline token accuracy: {acc_untied:.3f}")

# %%
# Accuracy and Levenshtein ratio over the loops
# ---------------------------------------------
# ``staged_predict`` yields the prediction after every loop from one
# trajectory; ``lipschitz_curve`` averages (``reduce="mean"``)
# ``Levenshtein(y_t(x), y_t(x')) / Levenshtein(x, x')`` over the contrast
# pairs given as ``directions=GivenPairs(...)`` (by default it substitutes
# one random token instead). The loops run to five times the training mean
# (6): accuracy should hold there, not fall.
T = 5 * 6
acc = [token_accuracy(y_test, p) for p in looped.staged_predict(X_test, n_iter=T)]
pairs = GivenPairs(X_pair[:100], distance=levenshtein_rows)
curve = looped.lipschitz_curve(X_test[:100], n_iter=T, directions=pairs, reduce="mean")
for t in (1, 2, 4, 8, 16, T):
    print(f"t={t:>2}: accuracy {acc[t - 1]:.3f}, Levenshtein ratio {curve.lipschitz[t - 1]:.2f}")

fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(9, 3.5))
ax1.plot(curve.n_iter, acc, "o-", label="looped")
ax1.axhline(acc_untied, color="C1", ls="--", label="untied, same parameters")
ax1.axvline(6, color="gray", ls=":", label="training mean")
ax1.set(xlabel="loops t", ylabel="token accuracy", title="Accuracy vs test-time loops")
ax1.legend()
ax2.plot(curve.n_iter, curve.lipschitz, "o-")
ax2.set(xlabel="loops t", ylabel="mean Levenshtein ratio", title="Levenshtein 'Lipschitz'")
fig.tight_layout()

# %%
# Which output changes grow with the loops?
# -----------------------------------------
# For the contrast pairs, count the positions where the two outputs differ,
# split by whether the *correct* answers differ there. With more loops the
# change of one pointer propagates down its subtree (the first count rises
# to the correct number), while spurious differences of still unresolved
# outputs die out. The Levenshtein ratio above is about their sum: it rises
# because the test chains are long enough that one loop propagates only part
# of an edit. (With chains of at most half the sequence, one loop already
# propagated most of an edit and the two trends cancelled, leaving the ratio
# flat: see the reproduction page.)
answer_changes = y_test[:100] != y_pair[:100]
out_a = list(looped.staged_predict(X_test[:100], n_iter=T))
out_b = list(looped.staged_predict(X_pair[:100], n_iter=T))
changed = [a != b for a, b in zip(out_a, out_b, strict=True)]
wanted = [(c & answer_changes).sum(1).mean() for c in changed]
spurious = [(c & ~answer_changes).sum(1).mean() for c in changed]
print(f"correct answers differ at {answer_changes.sum(1).mean():.2f} positions per pair")
for t in (1, 2, 4, 8, 16, T):
    print(
        f"t={t:>2}: changed where the answer changes {wanted[t - 1]:.2f}, elsewhere {spurious[t - 1]:.2f}"
    )

fig, ax = plt.subplots(figsize=(5, 3.5))
ax.plot(curve.n_iter, wanted, "o-", label="where the correct answer changes")
ax.plot(curve.n_iter, spurious, "s-", label="elsewhere (spurious)")
ax.axhline(answer_changes.sum(1).mean(), color="gray", ls=":", label="correct answers")
ax.set(xlabel="loops t", ylabel="changed output tokens per pair")
ax.legend(fontsize=8)
fig.tight_layout()

# %%
# Two near-identical inputs whose answers separate as the loops grow
# ------------------------------------------------------------------
# Like the paper's "charge and voltage" vs "charge and pay": re-point one
# node near the top of the longest chain to another chain's root. One input
# token changes; the correct answers differ at every node below it. With few
# loops the model only sees a few hops, so the two outputs stay close; with
# more loops the change propagates down the chain.
x = X_test[0]
longest = np.bincount(y_test[0], minlength=n_nodes).argmax()
other_root = [r for r in np.flatnonzero(x == np.arange(n_nodes)) if r != longest][0]
child = np.flatnonzero((x == longest) & (np.arange(n_nodes) != longest))[0]
x_pair = x.copy()
x_pair[child] = other_root
print(f"position {child}: parent {x[child]} -> {x_pair[child]}")


def follow(parents):
    """Roots by following the pointers (the ground truth)."""
    r = np.arange(len(parents))
    for _ in range(len(parents)):
        r = parents[r]
    return r


print("correct answers differ at", int((follow(x) != follow(x_pair)).sum()), "positions")
stages = list(looped.staged_predict(np.stack([x, x_pair]), n_iter=T))
dist = [levenshtein(s[0], s[1]) for s in stages]
for t in (1, 2, 4, 8, 16, T):
    print(f"t={t:>2}: Levenshtein distance between the two outputs {dist[t - 1]}")

fig, ax = plt.subplots(figsize=(4.5, 3.2))
ax.plot(np.arange(1, T + 1), dist, "o-")
ax.set(xlabel="loops t", ylabel="Levenshtein(out, out')", title="Inputs one token apart")
fig.tight_layout()
plt.show()
