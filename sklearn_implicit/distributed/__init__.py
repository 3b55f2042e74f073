"""Scale-out: data-parallel training through Hugging Face Accelerate, and Dask helpers.

Hyper-parameter searches need nothing special: implicit estimators pickle with
``pickle`` and ``cloudpickle`` (user-defined operators included) and resolve
``device="auto"`` when ``fit`` runs, so on a Dask cluster each worker trains on
its own GPU when it has one::

    import joblib
    from dask.distributed import Client

    client = Client("tcp://scheduler:8786")
    with joblib.parallel_backend("dask"):
        GridSearchCV(ImplicitRegressor(), grid, n_jobs=-1).fit(X, y)

Multi-device training uses :class:`AcceleratedImplicitRegressor`, launched with
``accelerate launch`` (or ``torchrun``) on every process.
"""

from __future__ import annotations

from ._accelerate import AcceleratedImplicitRegressor
from ._dask import local_cluster

__all__ = ["AcceleratedImplicitRegressor", "local_cluster"]
