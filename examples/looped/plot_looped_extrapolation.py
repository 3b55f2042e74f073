"""
Train small, predict big: longer pointer chains by looping more
===============================================================

A weight-tied model can answer *bigger* instances than it was trained on by
running more iterations (the recurrent-depth and "deep thinking"
literature). Here :class:`~sklearn_implicit.looped.LoopedTransformerClassifier`
is trained on pointer chasing
(:func:`~sklearn_implicit.datasets.make_pointer_chasing`) with at most 8
nodes, then asked to follow chains in sequences of 8, 16 and 32 nodes.

Two design choices make this possible (``positions="pointer"``):

* **node codes instead of learned positions**: every position gets a random
  code, and a token is embedded by the code of the position it points to, so
  neither the length nor the pointer values are limited by the training data;
* **answers by similarity to the node codes**: a node's answer (its root) is
  another node, so the read-out scores every position of the sequence rather
  than a fixed set of classes seen in fit.

This example uses a much smaller model and training set than
``benchmarks/looped_extrapolation.py`` (16 training nodes, tests at 16/32/64,
loops up to 128) so that it runs in about a minute on a CPU; its effect is
much weaker than the benchmark's. In this small configuration the model
answers the training size well (about 0.96 token accuracy at 8 nodes) and
accepts sequences four times longer, but its accuracy there is far lower and
it gains little from extra loops: the small model learns a procedure that
finishes within the few loops short chains need. The benchmark's larger model
and training set show the rise with loops at 32 and 64 nodes more clearly,
though not (yet) to full accuracy.
"""

# %%
# Train on short sequences
# ------------------------
import matplotlib.pyplot as plt
import numpy as np
import torch

from sklearn_implicit.datasets import make_pointer_chasing
from sklearn_implicit.looped import LoopedTransformerClassifier, token_accuracy

torch.set_num_threads(1)
parts = [make_pointer_chasing(800, n_nodes=(4, 8), n_hops=h, random_state=h) for h in (2, 4, 7)]
X = np.concatenate([p[0] for p in parts])
y = np.concatenate([p[1] for p in parts])
est = LoopedTransformerClassifier(
    d_model=32,
    n_heads=2,
    positions="pointer",
    mean_recurrence=6,
    backprop_depth=3,
    max_epochs=15,
    lr=3e-3,
    random_state=0,
).fit(X, y)
print(f"trained on sequences of {X.shape[1]} nodes at most; classes_ = {est.classes_}")

# %%
# Test on longer ones, over the loop budget
# -----------------------------------------
# ``staged_predict`` gives every budget ``t = 1..T`` from one trajectory. A
# test sequence of ``n`` nodes holds chains of up to ``n - 1`` hops, so longer
# sequences need more loops.
loops = [1, 2, 4, 8, 16, 32]
fig, ax = plt.subplots(figsize=(6, 4))
for n in (8, 16, 32):
    X_test, y_test = make_pointer_chasing(100, n_nodes=n, n_hops=n - 1, random_state=100 + n)
    stages = list(est.staged_predict(X_test, n_iter=max(loops)))
    acc = [token_accuracy(y_test, stages[t - 1]) for t in loops]
    print(f"{n:2d} nodes: " + " ".join(f"{a:.2f}" for a in acc))
    ax.plot(loops, acc, marker="o", label=f"{n} nodes" + (" (training size)" if n == 8 else ""))
ax.set_xscale("log", base=2)
ax.set_xlabel("loops at test time")
ax.set_ylabel("token accuracy")
ax.set_title("Trained on <= 8 nodes")
ax.legend()
plt.show()

# %%
# The answer of a sequence longer than any in fit has one column per position
# of *that* sequence in ``predict_proba`` (here 32), of which the first
# ``n_features_in_`` are ``classes_``.
print(est.predict_proba(X_test[:1], n_iter=16).shape)
