"""
An implicit classifier against an MLP of the same size
======================================================

:class:`~sklearn_implicit.ImplicitClassifier` reads class probabilities from the fixed
point of a learned operator ``G``; the number of applications of ``G`` is an argument of
:meth:`~sklearn_implicit.ImplicitClassifier.predict`. Here it is compared with
:class:`sklearn.neural_network.MLPClassifier` holding (about) as many parameters, on two
noisy half-moons, over test-time budgets up to five times the depth it was trained at.
"""

# %%
# Data and the two models
# -----------------------
# The implicit model is ``z* = tanh(W z* + U x + b)`` with a 16-unit state and a
# linear read-out of two logits, trained through its fixed point with ``n_iter=10``
# iterations. The MLP gets two hidden layers, sized to match the parameter count.
import matplotlib.pyplot as plt
import numpy as np
from sklearn.datasets import make_moons
from sklearn.model_selection import train_test_split
from sklearn.neural_network import MLPClassifier

from sklearn_implicit import ImplicitClassifier

X, y = make_moons(600, noise=0.25, random_state=0)
X_train, X_test, y_train, y_test = train_test_split(X, y, test_size=0.5, random_state=0)

n_iter = 10
implicit = ImplicitClassifier(
    operator__width=16, n_iter=n_iter, max_epochs=100, lr=1e-2, random_state=0
).fit(X_train, y_train)
n_implicit = sum(p.numel() for p in implicit.module_.parameters())


def mlp_size(h):
    # 2 -> h -> h -> 1 (scikit-learn's binary MLP has a single logistic output)
    return (2 * h + h) + (h * h + h) + (h + 1)


h = min(range(1, 64), key=lambda h: abs(mlp_size(h) - n_implicit))
mlp = MLPClassifier(hidden_layer_sizes=(h, h), max_iter=2000, random_state=0)
mlp.fit(X_train, y_train)
n_mlp = sum(w.size for w in mlp.coefs_) + sum(b.size for b in mlp.intercepts_)
print(f"parameters: ImplicitClassifier {n_implicit}, MLPClassifier{(h, h)} {n_mlp}")

# %%
# Accuracy over the budget
# ------------------------
# ``staged_predict`` gives ``predict(X, n_iter=t)`` for every ``t`` from one trajectory.
# The explicit MLP has one answer; the implicit model has one per budget. The residual
# trace of :meth:`~sklearn_implicit.ImplicitClassifier.solve` tells which samples have
# reached the fixed point (relative residual below ``tol=1e-4``) at each ``t``.
T = 5 * n_iter
budgets = np.arange(1, T + 1)
accuracy = np.array([np.mean(p == y_test) for p in implicit.staged_predict(X_test, n_iter=T)])
_, info = implicit.solve(X_test, n_iter=T)
reached = (info.residual_trace <= implicit.tol).mean(axis=1)
mlp_accuracy = mlp.score(X_test, y_test)

for t in (1, 2, 3, 5, n_iter, 2 * n_iter, T):
    print(
        f"t = {t:2d}: implicit accuracy {accuracy[t - 1]:.3f} "
        f"(fixed point reached by {reached[t - 1]:.0%})   MLP {mlp_accuracy:.3f}"
    )

fig, ax = plt.subplots(figsize=(6, 4))
ax.plot(budgets, accuracy, marker="o", ms=3, label=f"ImplicitClassifier ({n_implicit} params)")
ax.axhline(mlp_accuracy, color="C1", ls="--", label=f"MLPClassifier ({n_mlp} params)")
ax.axvline(n_iter, color="0.6", lw=0.8)
ax.text(n_iter, ax.get_ylim()[0], " training depth", color="0.4", va="bottom")
ax2 = ax.twinx()
ax2.plot(budgets, reached, color="C2", alpha=0.6, label="reached fixed point")
ax2.set(ylabel="fraction at the fixed point", ylim=(0, 1.05))
ax.set(xlabel="test-time budget t", ylabel="test accuracy", title="accuracy against budget")
ax.legend(loc="lower right")
fig.tight_layout()

# %%
# Decision regions
# ----------------
# The probability of the upper moon after 1, 3 and ``n_iter`` iterations, and the MLP's.
xx, yy = np.meshgrid(np.linspace(-2, 3, 150), np.linspace(-1.5, 2, 150))
grid = np.c_[xx.ravel(), yy.ravel()]
fig, axes = plt.subplots(1, 4, figsize=(14, 3.4), sharey=True)
panels = [(f"implicit, t = {t}", implicit.predict_proba(grid, n_iter=t)) for t in (1, 3, n_iter)]
panels.append(("MLP", mlp.predict_proba(grid)))
for ax, (title, proba) in zip(axes, panels):
    ax.contourf(xx, yy, proba[:, 1].reshape(xx.shape), levels=20, cmap="RdBu_r", vmin=0, vmax=1)
    ax.scatter(X_test[:, 0], X_test[:, 1], c=y_test, s=5, cmap="RdBu_r", edgecolors="none")
    ax.set(title=title, xlabel="x1")
axes[0].set(ylabel="x2")
fig.tight_layout()
plt.show()
