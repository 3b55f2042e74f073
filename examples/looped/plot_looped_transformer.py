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
accuracy rises with the loops. As in the paper's looped language model, the
*Levenshtein "Lipschitz" ratio* (how far the outputs move, in edit distance,
when one input token changes) rises with the loops too: the model answers
with a more sensitive function when it computes longer.
"""

# %%
# Data: chains of up to 2, 4, 8 and 12 hops
# -----------------------------------------
# Training mixes difficulties (a curriculum: short chains teach the one-hop
# look-up that long chains repeat). The test set has the hardest training
# difficulty.
import matplotlib.pyplot as plt
import numpy as np

from sklearn_implicit.datasets import make_pointer_chasing
from sklearn_implicit.looped import (
    LoopedTransformerClassifier,
    UntiedTransformerClassifier,
    levenshtein,
    token_accuracy,
)

n_nodes = 24
parts = [
    make_pointer_chasing(1500, n_nodes=n_nodes, n_hops=h, random_state=h) for h in (2, 4, 8, 12)
]
X = np.concatenate([p[0] for p in parts])
y = np.concatenate([p[1] for p in parts])
# ``return_pairs`` adds a contrast partner of every test sequence, one token
# apart: one node re-pointed so that the roots of its whole subtree change.
X_test, y_test, depth, X_pair, _ = make_pointer_chasing(
    400, n_nodes=n_nodes, n_hops=12, random_state=100, return_depth=True, return_pairs=True
)
print("input (parents):", X_test[0])
print("target (roots): ", y_test[0])
print("depths:         ", depth[0])

# %%
# Train the looped model and the untied baseline (same parameter count)
# ---------------------------------------------------------------------
# The baseline runs the core block once, with its own weights: exactly the
# parameters of the looped model, but a fixed depth.
common = dict(d_model=64, max_epochs=4, random_state=0)
looped = LoopedTransformerClassifier(mean_recurrence=6, backprop_depth=4, **common).fit(X, y)
untied = UntiedTransformerClassifier(n_layers=1, **common).fit(X, y)
acc_untied = token_accuracy(y_test, untied.predict(X_test))
print(f"parameters: looped {looped.n_params_}, untied {untied.n_params_}")
print(f"untied baseline token accuracy: {acc_untied:.3f}")

# %%
# Accuracy and Levenshtein ratio over the loops
# ---------------------------------------------
# ``staged_predict`` yields the prediction after every loop from one
# trajectory; ``lipschitz_curve`` averages
# ``Levenshtein(y_t(x), y_t(x')) / Levenshtein(x, x')`` over the contrast
# pairs (without ``X_pairs`` it substitutes one random token instead).
T = 16
acc = [token_accuracy(y_test, p) for p in looped.staged_predict(X_test, n_iter=T)]
curve = looped.lipschitz_curve(X_test[:100], n_iter=T, X_pairs=X_pair[:100])
for t in (1, 2, 4, 8, 16):
    print(f"t={t:>2}: accuracy {acc[t - 1]:.3f}, Levenshtein ratio {curve.lipschitz[t - 1]:.2f}")

fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(9, 3.5))
ax1.plot(curve.n_iter, acc, "o-", label="looped")
ax1.axhline(acc_untied, color="C1", ls="--", label="untied, same parameters")
ax1.set(xlabel="loops t", ylabel="token accuracy", title="Accuracy vs test-time loops")
ax1.legend()
ax2.plot(curve.n_iter, curve.lipschitz, "o-")
ax2.set(xlabel="loops t", ylabel="mean Levenshtein ratio", title="Levenshtein 'Lipschitz'")
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
for t in (1, 2, 4, 8, 16):
    print(f"t={t:>2}: Levenshtein distance between the two outputs {dist[t - 1]}")

fig, ax = plt.subplots(figsize=(4.5, 3.2))
ax.plot(np.arange(1, T + 1), dist, "o-")
ax.set(xlabel="loops t", ylabel="Levenshtein(out, out')", title="Inputs one token apart")
fig.tight_layout()
plt.show()
