"""
Predicting LP solutions with an implicit GNN
============================================

A linear program ``min c^T y  s.t.  A y o b,  l <= y <= u`` is a bipartite
graph: one node per constraint, one per variable, an edge of weight ``A_ij``
for every nonzero. :class:`~sklearn_implicit.lp.LPGNNRegressor` iterates a
message-passing operator ``G(y, x)`` on a per-variable state ``y``; its
explicit counterpart stacks the same layers once, untied. We train both on
random LPs solved by HiGHS, compare their test error (the paper's
``mean ||y_hat - y*|| / (||y*|| + 1)``), and watch the implicit model's error
and empirical Lipschitz constant as the number of iterations grows.
"""

# %%
# Data: random LPs with the paper's distributions, solved by HiGHS
# ----------------------------------------------------------------
# ``X`` is a :class:`~sklearn_implicit.lp.LinearPrograms` container: it slices
# like an array, so ``train_test_split`` and cross-validation work on it.
import matplotlib.pyplot as plt
import numpy as np
from sklearn.model_selection import train_test_split

from sklearn_implicit.datasets import make_linear_programs
from sklearn_implicit.lipschitz import LPBlocks
from sklearn_implicit.lp import LPGNNRegressor, lp_relative_error

X, y = make_linear_programs(300, random_state=0)
X_train, X_test, y_train, y_test = train_test_split(X, y, test_size=100, random_state=0)
print(X_train, y_train.shape)

# %%
# Train the implicit and the explicit GNN (same embedding size)
# -------------------------------------------------------------
# The implicit model is trained in two stages (``stages="auto"``): three
# quarters of the epochs by backpropagating through 3 unrolled iterations, as
# the paper's first stage, then the rest at random depths with mean ``n_iter``
# (here 20), backpropagating through the last 3 steps of each. The second
# stage teaches the operator to improve the answer from any state of a long
# trajectory, which makes the iteration settle. A short run on few LPs:
# the benchmark ``benchmarks/lp_table.py`` trains longer on the paper's sizes.
common = dict(emb_size=8, max_epochs=60, batch_size=50, random_state=0)
implicit = LPGNNRegressor(n_iter=20, **common).fit(X_train, y_train)
explicit = LPGNNRegressor(architecture="explicit", **common).fit(X_train, y_train)
for name, est in (("explicit", explicit), ("implicit", implicit)):
    err = lp_relative_error(y_test, est.predict(X_test))
    print(f"{name}: {est.n_params_} parameters, test error {err:.3f}")

# %%
# Test-time compute: error and Lipschitz constant over iterations
# ---------------------------------------------------------------
# ``staged_predict`` gives ``y_t`` for every budget ``t`` from one trajectory;
# ``lipschitz_curve`` perturbs one block of the LP (the direction strategy
# :class:`~sklearn_implicit.lipschitz.LPBlocks`, here the nonzeros of ``A``)
# and averages ``||y_t(x + d) - y_t(x)|| / ||d||`` (``reduce="mean"``, as the
# paper's LP figure). We run the iteration to 5x the mean training depth: past
# it the error stays where it is.
T = 5 * implicit.n_iter
errors = [lp_relative_error(y_test, p) for p in implicit.staged_predict(X_test, n_iter=T)]
curve = implicit.lipschitz_curve(
    X_test, n_iter=T, directions=LPBlocks("A"), reduce="mean", random_state=0
)

fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(9, 3.5))
ax1.plot(curve.n_iter, errors, "o-", label="implicit")
ax1.axhline(
    lp_relative_error(y_test, explicit.predict(X_test)), color="C1", ls="--", label="explicit"
)
ax1.axvline(implicit.n_iter, color="gray", ls=":", label="mean training depth")
ax1.set(xlabel="iterations t", ylabel="test error")
ax1.legend()
ax2.plot(curve.n_iter, curve.lipschitz, "o-")
ax2.set(xlabel="iterations t", ylabel="mean L_t (perturbing A)")
fig.tight_layout()
plt.show()

# %%
# LPs of a size never seen in training
# ------------------------------------
# The operator acts on nodes and edges, so the same model accepts any
# ``(m, n)``; smaller instances in a mixed batch are padded, and their unused
# slots come back as NaN.
X_big, y_big = make_linear_programs(30, n_constraints=20, n_variables=100, nnz=200, random_state=1)
print("20 x 100 LPs, error:", round(lp_relative_error(y_big, implicit.predict(X_big)), 3))
print("first row, last entries:", np.round(implicit.predict(X_big[:1])[0, -3:], 2))
