"""
Lipschitz curves and score against the test-time budget
=======================================================

On a tabular regression problem (:func:`sklearn.datasets.make_friedman1`) we fit an
:class:`~sklearn_implicit.ImplicitRegressor` and measure, for every budget ``t``, the
empirical Lipschitz constant ``L_t`` of ``x -> y_t(x)``
(:class:`~sklearn_implicit.display.LipschitzCurveDisplay`) and the test score
(:class:`~sklearn_implicit.display.IterationCurveDisplay`). Both come from one trajectory.
The regularity report checks that the learned operator is a contraction and that the
necessity bound holds sample by sample.
"""

# %%
# Fit
# ---
import matplotlib.pyplot as plt
import numpy as np
from sklearn.datasets import make_friedman1
from sklearn.model_selection import train_test_split
from sklearn.preprocessing import StandardScaler

from sklearn_implicit import ImplicitRegressor, regularity_report
from sklearn_implicit.display import IterationCurveDisplay, LipschitzCurveDisplay

X, y = make_friedman1(n_samples=600, noise=0.5, random_state=0)
y = (y - y.mean()) / y.std()
X_train, X_test, y_train, y_test = train_test_split(X, y, random_state=0)
scaler = StandardScaler().fit(X_train)
X_train, X_test = scaler.transform(X_train), scaler.transform(X_test)

est = ImplicitRegressor(operator__width=32, n_iter=40, max_epochs=30, random_state=0)
est.fit(X_train, y_train)
print(f"test R^2 at the fixed point: {est.score(X_test, y_test):.3f}")

# %%
# L_t and score against t
# -----------------------
fig, axes = plt.subplots(1, 2, figsize=(10, 4))
LipschitzCurveDisplay.from_estimator(est, X_test[:100], n_iter=40, random_state=0, ax=axes[0])
IterationCurveDisplay.from_estimator(
    est, X_test, y_test, n_iter=[1, 2, 3, 4, 6, 8, 12, 16, 24, 32, 40], ax=axes[1]
)
axes[0].set_title("complexity of the iterate map")
axes[1].set_title("accuracy")
fig.tight_layout()

# %%
# The same display with another metric, on a given axis
# -----------------------------------------------------
fig, ax = plt.subplots(figsize=(5, 4))
disp = IterationCurveDisplay.from_estimator(
    est, X_test, y_test, n_iter=20, scoring="neg_mean_absolute_error", ax=ax
)
print("scores:", np.round(disp.scores, 3))

# %%
# Regularity report
# -----------------
# ``mu(x)``: contraction modulus of the learned ``G`` at each fixed point; the bound
# ``Lip_x(G) / (1 - mu)`` must dominate the measured local Lipschitz constant of ``z*``.
rep = regularity_report(est, X_test[:50], random_state=0)
print(rep)
fig, ax = plt.subplots(figsize=(5, 4))
ax.scatter(rep.bound, rep.lipschitz_z, s=12)
lim = [0, float(rep.bound.max()) * 1.05]
ax.plot(lim, lim, "k--", label="measured = bound")
ax.set(xlabel="necessity bound $Lip_x(G)/(1-\\mu)$", ylabel="measured Lip of $z^*$")
ax.legend()
