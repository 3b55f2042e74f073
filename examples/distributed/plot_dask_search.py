"""
Grid search over solvers and budgets on a Dask cluster
======================================================

Implicit estimators pickle with cloudpickle and pick their device when ``fit`` runs, so a
scikit-learn search runs on a Dask cluster through joblib's ``"dask"`` backend unchanged.
Here the cluster is two local worker processes on the loopback interface; point
:class:`dask.distributed.Client` at a real scheduler to use more machines.
"""

# %%
# A search over the forward solver, the training budget and the operator width
# ----------------------------------------------------------------------------
import time
import warnings

import matplotlib.pyplot as plt
import numpy as np
from sklearn.datasets import make_friedman1
from sklearn.exceptions import ConvergenceWarning
from sklearn.model_selection import GridSearchCV
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from sklearn_implicit import ImplicitRegressor
from sklearn_implicit.distributed import local_cluster

# Candidates with ``n_iter=5`` stop before the tolerance on purpose (they are scored at
# that budget); silence the warning that says so.
warnings.filterwarnings("ignore", category=ConvergenceWarning)

X, y = make_friedman1(n_samples=400, noise=0.5, random_state=0)
search = GridSearchCV(
    make_pipeline(StandardScaler(), ImplicitRegressor(max_epochs=30, random_state=0)),
    {
        "implicitregressor__solver": ["picard", "anderson"],
        "implicitregressor__n_iter": [5, 30],
        "implicitregressor__operator__width": [16, 64],
    },
    cv=3,
    n_jobs=-1,
)

# %%
# Run it on the cluster
# ---------------------
# ``local_cluster`` starts a scheduler and two workers (threads of this process here;
# ``processes=True`` for separate processes) on 127.0.0.1, activates joblib's
# dask backend, and shuts everything down at the end of the block.
t0 = time.perf_counter()
with local_cluster(n_workers=2, threads_per_worker=1, processes=False) as client:
    print(client)
    search.fit(X, y)
print(
    f"{len(search.cv_results_['params'])} candidates x 3 folds in {time.perf_counter() - t0:.1f} s"
)
print("best:", search.best_params_, f"R^2 = {search.best_score_:.3f}")

# %%
# Results
# -------
res = search.cv_results_
labels = [
    f"{p['implicitregressor__solver']}, n_iter={p['implicitregressor__n_iter']}, "
    f"width={p['implicitregressor__operator__width']}"
    for p in res["params"]
]
order = np.argsort(res["mean_test_score"])
fig, ax = plt.subplots(figsize=(7, 4))
ax.barh(
    [labels[i] for i in order],
    res["mean_test_score"][order],
    xerr=res["std_test_score"][order],
    color="C0",
)
ax.set(xlabel="cross-validated R^2", title="grid search on a Dask cluster")
fig.tight_layout()
plt.show()
