"""Every estimator on every device: fit, budgets, diagnostics, pickling, CUDA -> CPU loading.

The ``cuda`` cases are collected everywhere and skipped where no CUDA device
is present; ``make gpu-check`` runs them (``pytest -k cuda``) on a GPU.
"""

from __future__ import annotations

import importlib.util
import pickle
from pathlib import Path

import numpy as np
import pytest
import torch

from sklearn_implicit import ImplicitRegressor
from sklearn_implicit.solvers import _driver, anderson, picard

pytestmark = [
    pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning"),
    pytest.mark.filterwarnings("ignore::UserWarning"),
]

_NO_CUDA = not torch.cuda.is_available()
DEVICES = [
    "cpu",
    pytest.param("cuda", marks=pytest.mark.skipif(_NO_CUDA, reason="needs a CUDA device")),
]


# ---------------------------------------------------------------------------- cases
def _tabular():
    rng = np.random.RandomState(0)
    X = rng.standard_normal((40, 5))
    y = np.tanh(X @ rng.standard_normal(5))
    return ImplicitRegressor, {"max_epochs": 2, "n_iter": 6}, X, y


def _deblur():
    from sklearn_implicit.datasets import make_blurred_images
    from sklearn_implicit.imaging import DeblurRegressor

    X, y = make_blurred_images(10, size=16, kernel_size=5, random_state=0)
    kw = {"kernel_size": 5, "width": 8, "depth": 3, "n_iter": 4, "max_epochs": 1, "batch_size": 8}
    return DeblurRegressor, kw, X, y


def _fno():
    from sklearn_implicit.datasets import make_navier_stokes
    from sklearn_implicit.pde import FNORegressor

    X, y = make_navier_stokes(10, resolution=16, cache=False, random_state=0)
    kw = {"width": 8, "modes": 4, "n_iter": 4, "max_epochs": 1, "batch_size": 8}
    return FNORegressor, kw, X, y


def _lp():
    from sklearn_implicit.datasets import make_linear_programs
    from sklearn_implicit.lp import LPGNNRegressor

    X, y = make_linear_programs(
        12, n_constraints=4, n_variables=8, nnz=12, cache=False, random_state=0
    )
    return LPGNNRegressor, {"emb_size": 4, "n_iter": 3, "max_epochs": 2}, X, y


def _looped():
    from sklearn_implicit.datasets import make_pointer_chasing
    from sklearn_implicit.looped import LoopedTransformerClassifier

    X, y = make_pointer_chasing(16, n_nodes=6, n_hops=3, random_state=0)
    kw = {
        "d_model": 16,
        "n_heads": 2,
        "mean_recurrence": 2,
        "backprop_depth": 2,
        "n_iter": 4,
        "max_epochs": 1,
    }
    return LoopedTransformerClassifier, kw, X, y


CASES = {
    "tabular": (_tabular, None),
    "deblur-implicit": (_deblur, "implicit"),
    "deblur-explicit": (_deblur, "explicit"),
    "fno-implicit": (_fno, "implicit"),
    "fno-explicit": (_fno, "explicit"),
    "lp-implicit": (_lp, "implicit"),
    "lp-explicit": (_lp, "explicit"),
    "looped-implicit": (_looped, "implicit"),
    "looped-explicit": (_looped, "explicit"),
}

_FITTED = {}


def _fitted(case, device):
    """A tiny fit per (case, device), shared by the tests of this module."""
    key = (case, device)
    if key not in _FITTED:
        make, architecture = CASES[case]
        cls, kw, X, y = make()
        if architecture is not None:
            kw = {**kw, "architecture": architecture}
        est = cls(**kw, device=device, random_state=0).fit(X, y)
        _FITTED[key] = (est, X, y)
    return _FITTED[key]


def _stray_tensors(module):
    """Tensor attributes that are neither parameters nor buffers: ``.to(device)`` misses them."""
    stray = []
    for prefix, sub in module.named_modules():
        for name, value in vars(sub).items():
            if isinstance(value, torch.Tensor) and not name.startswith("_"):
                stray.append(f"{prefix}.{name}" if prefix else name)
    return stray


# ---------------------------------------------------------------------------- tests
@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("case", list(CASES))
def test_fit_predict_diagnostics_on_device(case, device):
    est, X, y = _fitted(case, device)
    assert est.device_ == device
    module = est.module_
    places = {t.device.type for t in list(module.parameters()) + list(module.buffers())}
    assert places <= {device}, f"parts of the module live on {places}"
    assert _stray_tensors(module) == []
    n = len(y)

    pred = est.predict(X)
    assert len(pred) == n
    budget = est.predict(X, n_iter=2)
    assert len(budget) == n and np.all(np.isfinite(np.asarray(budget, dtype=float)))
    y_solve, info = est.solve(X, n_iter=3)
    np.testing.assert_allclose(
        np.asarray(y_solve, dtype=float), np.asarray(est.predict(X, n_iter=3), dtype=float)
    )
    assert info.n_samples == n

    curve = est.lipschitz_curve(X, n_iter=3, n_directions=1, random_state=0)
    assert curve.lipschitz.shape == (3,) and np.all(np.isfinite(curve.lipschitz))
    report = est.regularity_report(X, n_iter=3)
    assert report.lipschitz_y.shape == (n,)

    restored = pickle.loads(pickle.dumps(est))
    np.testing.assert_allclose(
        np.asarray(restored.predict(X, n_iter=2), dtype=float),
        np.asarray(budget, dtype=float),
        rtol=1e-5,
        atol=1e-5,
    )


@pytest.mark.parametrize("case", list(CASES))
@pytest.mark.skipif(_NO_CUDA, reason="needs a CUDA device")
def test_cuda_fitted_model_loads_on_a_cpu_only_process(case, monkeypatch):
    est, X, _ = _fitted(case, "cuda")
    payload = pickle.dumps(est)
    expected = np.asarray(est.predict(X, n_iter=2), dtype=float)
    # What a process without CUDA sees: skorch maps the CUDA tensors to the CPU.
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    restored = pickle.loads(payload)
    assert restored.device_ == "cpu"
    module = restored.module_
    places = {t.device.type for t in list(module.parameters()) + list(module.buffers())}
    assert places == {"cpu"}
    got = np.asarray(restored.predict(X, n_iter=2), dtype=float)
    np.testing.assert_allclose(got, expected, rtol=1e-4, atol=1e-4)


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("solver", [picard, anderson])
def test_late_convergence_check_gives_the_same_answer(solver, device, monkeypatch):
    """Reading "every sample done" a few steps late (as on CUDA) changes nothing."""
    g = torch.Generator().manual_seed(0)
    A = 0.8 * torch.linalg.qr(torch.randn(6, 6, generator=g))[0]
    b = torch.randn(5, 6, generator=g) * torch.logspace(-3, 0, 5)[:, None]
    A, b = A.to(device), b.to(device)

    def f(z):
        return torch.tanh(z @ A + b)

    z0 = torch.zeros(5, 6, device=device)
    z_now, info_now = solver(f, z0, max_iter=200, tol=1e-5)
    calls = []

    def counted(z):
        calls.append(1)
        return f(z)

    monkeypatch.setattr(_driver, "_convergence_lag", lambda z0, **kw: 2)
    z_late, info_late = solver(counted, z0, max_iter=200, tol=1e-5)
    torch.testing.assert_close(z_late, z_now, rtol=0, atol=0)
    np.testing.assert_array_equal(info_late.n_steps, info_now.n_steps)
    np.testing.assert_array_equal(info_late.residual, info_now.residual)
    np.testing.assert_array_equal(info_late.converged, info_now.converged)
    assert info_late.extra == info_now.extra
    assert info_now.converged.all()
    # At most two extra applications of the operator.
    assert info_now.n_steps.max() <= len(calls) <= info_now.n_steps.max() + 2


def test_lag_is_used_only_on_cuda_without_observers():
    cpu = torch.zeros(1)
    assert _driver._convergence_lag(cpu, track=False, callback=None) == 0
    meta = torch.empty(1, device="meta")
    assert _driver._convergence_lag(meta, track=False, callback=None) == 0
    if not _NO_CUDA:
        cuda = torch.zeros(1, device="cuda")
        assert _driver._convergence_lag(cuda, track=False, callback=None) == _driver._CUDA_LAG
        assert _driver._convergence_lag(cuda, track=True, callback=None) == 0
        assert _driver._convergence_lag(cuda, track=False, callback=print) == 0


def _performance_module():
    path = Path(__file__).resolve().parents[1] / "benchmarks" / "performance.py"
    spec = importlib.util.spec_from_file_location("_performance_benchmark", path)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


@pytest.mark.skipif(not _NO_CUDA, reason="checks the message of a machine without CUDA")
def test_performance_benchmark_refuses_cuda_without_a_device(capsys):
    with pytest.raises(SystemExit) as exc:
        _performance_module().main(["--device", "cuda"])
    assert exc.value.code != 0
    assert "CUDA" in capsys.readouterr().err
