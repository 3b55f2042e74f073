"""
Quick start: an implicit regressor and its test-time budget
===========================================================

Fit :class:`~sklearn_implicit.ImplicitRegressor` on a smooth 1-D target, then look at what
makes it implicit: the prediction is the fixed point of a learned operator ``G``, and the
number of applications of ``G`` is a knob of :meth:`~sklearn_implicit.ImplicitRegressor.predict`.
"""

# %%
# Data and fit
# ------------
# A noisy 1-D regression problem. The default operator is
# ``G(z, x) = tanh(W z + U x + b)`` with a 64-unit state and a linear read-out.
import matplotlib.pyplot as plt
import numpy as np
from sklearn.model_selection import train_test_split

from sklearn_implicit import ImplicitRegressor

rng = np.random.RandomState(0)
X = rng.uniform(-3, 3, size=(400, 1))
y = np.sin(2 * X[:, 0]) + 0.3 * X[:, 0] + 0.05 * rng.standard_normal(400)
X_train, X_test, y_train, y_test = train_test_split(X, y, random_state=0)

est = ImplicitRegressor(random_state=0).fit(X_train, y_train)
print(f"test R^2 at the fixed point: {est.score(X_test, y_test):.3f}")

# %%
# Diagnostics of the solve
# ------------------------
# :meth:`~sklearn_implicit.ImplicitRegressor.solve` returns the same predictions as
# ``predict`` plus a :class:`~sklearn_implicit.SolverInfo`.
y_hat, info = est.solve(X_test)
print(info)
print("iterations used per sample: min", info.n_steps.min(), "max", info.n_steps.max())

# %%
# The test-time budget
# --------------------
# ``predict(X, n_iter=t)`` applies ``G`` exactly ``t`` times from ``z_0 = 0``. Few
# iterations give a smooth, inaccurate answer; more iterations approach the fixed point.
grid = np.linspace(-3, 3, 400)[:, None]
fig, axes = plt.subplots(1, 2, figsize=(10, 4))
axes[0].scatter(X_test[:, 0], y_test, s=8, c="0.6", label="test data")
for t in (1, 2, 4, 30):
    axes[0].plot(grid[:, 0], est.predict(grid, n_iter=t), label=f"t = {t}")
axes[0].set(xlabel="x", ylabel="y", title="predict(X, n_iter=t)")
axes[0].legend()

budgets = np.arange(1, 31)
staged = [np.mean((y_t - y_test) ** 2) for y_t in est.staged_predict(X_test, n_iter=30)]
axes[1].semilogy(budgets, staged, marker="o", ms=3)
axes[1].set(xlabel="budget t", ylabel="test MSE", title="error against test-time compute")
fig.tight_layout()

# %%
# The residual trace shows the contraction: the relative residual
# ``||G(z) - z|| / ||G(z)||`` falls geometrically until the tolerance stops each sample.
fig, ax = plt.subplots(figsize=(5, 3.5))
ax.semilogy(
    np.arange(1, info.residual_trace.shape[0] + 1), info.residual_trace[:, :20], c="C0", lw=0.8
)
ax.axhline(est.tol, c="k", ls="--", label="tol")
ax.set(xlabel="iteration", ylabel="relative residual", title="per-sample residual traces")
ax.legend()
fig.tight_layout()

# %%
# What the budget buys
# --------------------
# :meth:`~sklearn_implicit.ImplicitRegressor.budget_curve` reports, from one trajectory to
# five times the training budget, the score, the residual, ``L_t`` and the number of
# applications of ``G`` (with ``tol``, a sample stops counting once it has converged), and
# fits ``score(t) ~ a - b exp(-t / tau)`` to say which budget buys 95 % of the gain. The
# score must not fall past the training budget: that is what "more compute never hurts"
# means, and :math:`L_t` is read with it.
from sklearn_implicit.display import BudgetCurveDisplay

curve = est.budget_curve(X_test, y_test, n_iter=5 * est.n_iter, tol=est.tol, random_state=0)
print(
    f"R^2 at t = {est.n_iter}: {curve.score[est.n_iter - 1]:.3f}, at t = {5 * est.n_iter}: "
    f"{curve.score[-1]:.3f}; 95 % of the gain at t = {curve.budget_at(0.95)}; "
    f"{curve.fraction_converged[-1]:.0%} of the samples at tol"
)
BudgetCurveDisplay.from_curve(curve, name="ImplicitRegressor")
plt.show()
