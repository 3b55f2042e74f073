"""Grid search on a loopback Dask cluster gives the serial search's results."""

import numpy as np
import pytest
import torch
from sklearn.model_selection import GridSearchCV

pytest.importorskip("distributed", reason="the 'distributed' extra (dask) is not installed")
cloudpickle = pytest.importorskip("cloudpickle")

from sklearn_implicit import ImplicitRegressor  # noqa: E402
from sklearn_implicit.distributed import local_cluster  # noqa: E402


def _data():
    rng = np.random.RandomState(0)
    X = rng.uniform(-2, 2, size=(120, 2))
    y = np.sin(X[:, 0]) + 0.3 * X[:, 1]
    return X, y


def _search(n_jobs):
    X, y = _data()
    grid = GridSearchCV(
        ImplicitRegressor(max_epochs=15, random_state=0),
        {"n_iter": [5, 20], "operator__width": [8, 16]},
        cv=2,
        n_jobs=n_jobs,
    )
    return grid.fit(X, y)


def test_dask_search_matches_serial_search():
    torch.set_num_threads(1)
    serial = _search(n_jobs=None)
    with local_cluster(n_workers=2, threads_per_worker=1) as client:
        assert len(client.scheduler_info()["workers"]) == 2
        assert client.scheduler.address.startswith("tcp://127.0.0.1")
        devices = client.run(lambda: "cuda" if torch.cuda.is_available() else "cpu")
        distributed = _search(n_jobs=-1)
    np.testing.assert_allclose(
        distributed.cv_results_["mean_test_score"], serial.cv_results_["mean_test_score"], rtol=1e-4
    )
    assert distributed.best_params_ == serial.best_params_
    # device="auto" resolves on the worker that fits, to the device it has.
    assert set(devices.values()) <= {"cpu", "cuda"}
    assert distributed.best_estimator_.device_ == ("cuda" if torch.cuda.is_available() else "cpu")


def test_cloudpickle_with_user_defined_operators():
    from torch import nn

    from ._operators import HalfStepOperator

    class LocalOperator(nn.Module):  # defined interactively: pickled by value
        def __init__(self, in_features, n_outputs):
            super().__init__()
            self.lin = nn.Linear(in_features, n_outputs)

        def forward(self, y, x):
            return 0.25 * y + self.lin(x)

    X, y = _data()
    for op in (HalfStepOperator, LocalOperator):
        unfitted = cloudpickle.loads(cloudpickle.dumps(ImplicitRegressor(op, max_epochs=2)))
        est = unfitted.fit(X, y)
        restored = cloudpickle.loads(cloudpickle.dumps(est))
        np.testing.assert_array_equal(restored.predict(X), est.predict(X))
