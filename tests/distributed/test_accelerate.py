"""Data-parallel training through Accelerate: 2 CPU processes (gloo) against 1 process."""

import os
import socket
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("accelerate", reason="the 'distributed' extra (accelerate) is not installed")

from sklearn_implicit.distributed import AcceleratedImplicitRegressor

WORKER = Path(__file__).with_name("_ddp_worker.py")


def _free_port():
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _launch(n_proc, out, backward, batch_size):
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONWARNINGS": "ignore"}
    cmd = [
        sys.executable,
        "-m",
        "torch.distributed.run",
        f"--nproc_per_node={n_proc}",
        "--master_addr=127.0.0.1",
        f"--master_port={_free_port()}",
        str(WORKER),
        str(out),
        backward,
        str(batch_size),
    ]
    proc = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=300)
    if proc.returncode != 0:
        raise AssertionError(f"launch failed:\n{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}")
    return np.load(out)


@pytest.mark.parametrize("backward", ["implicit", "phantom"])
def test_two_processes_match_one(tmp_path, backward):
    two = _launch(2, tmp_path / "two.npz", backward, 32)
    assert int(two["num_processes"]) == 2
    # The module is unwrapped from DistributedDataParallel after training.
    assert str(two["wrapped"]) == "ImplicitModule"
    # One process with the same global batch (2 x 32) follows the same trajectory.
    sys.path.insert(0, str(WORKER.parent))
    try:
        from _ddp_worker import data
    finally:
        sys.path.pop(0)
    X, y = data()
    one = AcceleratedImplicitRegressor(
        backward=backward,
        batch_size=64,
        shuffle=False,
        max_epochs=5,
        lr=1e-2,
        n_iter=20,
        random_state=0,
    ).fit(X, y)
    np.testing.assert_allclose(two["pred"], one.predict(X), atol=1e-4)


def test_single_process_estimator_behaves_like_plain_one():
    rng = np.random.RandomState(0)
    X = rng.uniform(-1, 1, size=(64, 2))
    y = X[:, 0] ** 2
    est = AcceleratedImplicitRegressor(max_epochs=3, random_state=0).fit(X, y)
    assert est.device_ == "cpu"
    assert est.net_.accelerator is None
    assert est.predict(X, n_iter=3).shape == (64,)
    import pickle

    np.testing.assert_array_equal(pickle.loads(pickle.dumps(est)).predict(X), est.predict(X))


def test_accelerator_that_is_not_one_is_refused():
    X = np.random.RandomState(0).uniform(-1, 1, size=(16, 2))
    with pytest.raises(ValueError, match="'accelerator' parameter"):
        AcceleratedImplicitRegressor(accelerator="foo", max_epochs=1).fit(X, X[:, 0])
