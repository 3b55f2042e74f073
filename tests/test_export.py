"""``est.export(n_iter)``: a plain torch module with the budget frozen, for torch.export and ONNX."""

import copy
import warnings

import numpy as np
import pytest
import torch
from sklearn.exceptions import ConvergenceWarning, NotFittedError

from sklearn_implicit import ImplicitClassifier, ImplicitRegressor
from sklearn_implicit._export import FixedBudgetModel

T = 6  # the exported budget (the models are fitted with n_iter=8)


def _data(n=37, seed=0):
    rng = np.random.RandomState(seed)
    X = rng.uniform(-1, 1, size=(n, 3))
    Y = np.c_[np.sin(2 * X).sum(1), np.cos(X).prod(1)]
    return X, Y


@pytest.fixture(scope="module")
def regressor():
    """The default mlp operator, 1-D y."""
    X, Y = _data()
    est = ImplicitRegressor(n_iter=8, max_epochs=2, random_state=0, device="cpu")
    return est.fit(X, Y[:, 0]), X


@pytest.fixture(scope="module")
def latent():
    """An encoder and a decoder around the operator, 2-D y, a damped Picard solver."""
    X, Y = _data()
    est = ImplicitRegressor(
        encoder="linear",
        encoder__out_features=5,
        decoder="linear",
        operator__width=16,
        solver__damping=0.7,
        n_iter=8,
        max_epochs=2,
        random_state=0,
        device="cpu",
    )
    return est.fit(X, Y), X


def _inputs(est, X):
    return est._to_tensor(est._validate_X(X), "cpu")


def _max_diff(a, b):
    a = a.detach().cpu().numpy() if isinstance(a, torch.Tensor) else np.asarray(a)
    return float(np.max(np.abs(a - np.asarray(b))))


@pytest.fixture(params=["regressor", "latent"])
def fitted(request):
    return request.getfixturevalue(request.param)


def test_export_is_the_budget_t_prediction(fitted):
    est, X = fitted
    state = copy.deepcopy(est.module_.state_dict())
    model = est.export(T)
    assert isinstance(model, FixedBudgetModel) and not model.training
    assert model.module is not est.module_
    assert not any(p.requires_grad for p in model.parameters())
    x = _inputs(est, X)
    with torch.no_grad():
        out = model(x)
    ref = est.predict(X, n_iter=T)
    assert out.dtype == torch.float32
    assert tuple(out.shape) == ref.shape  # (n,) for a 1-D y, (n, n_outputs) otherwise
    assert _max_diff(out, ref) <= 1e-5
    # The exported copy is independent: changing it leaves the estimator as it was.
    with torch.no_grad():
        for p in model.parameters():
            p.add_(1.0)
    for key, value in est.module_.state_dict().items():
        assert torch.equal(value, state[key])
    np.testing.assert_array_equal(est.predict(X, n_iter=T), ref)


def test_export_default_budget_is_n_iter(regressor):
    est, X = regressor
    model = est.export()
    assert model.n_iter == est.n_iter
    with torch.no_grad():
        out = model(_inputs(est, X))
    assert _max_diff(out, est.predict(X, n_iter=est.n_iter)) <= 1e-5


def test_export_checks_fit_and_budget(regressor):
    with pytest.raises(NotFittedError):
        ImplicitRegressor().export(3)
    est, _ = regressor
    for bad in (0, -1, 2.5, True):
        with pytest.raises(ValueError, match="n_iter"):
            est.export(bad)


def test_torch_export_dynamic_batch(fitted):
    est, X = fitted
    x = _inputs(est, X)
    batch = torch.export.Dim("batch")
    program = torch.export.export(est.export(T), (x,), dynamic_shapes=({0: batch},))
    ref = est.predict(X, n_iter=T)
    assert _max_diff(program.module()(x), ref) <= 1e-5
    assert _max_diff(program.module()(x[:5]), ref[:5]) <= 1e-5  # another batch size


def test_onnx_export(fitted):
    pytest.importorskip("onnxscript", reason="ONNX export needs the 'export' extra (onnxscript)")
    onnx = pytest.importorskip("onnx", reason="ONNX export needs the 'export' extra (onnx)")
    from onnx.reference import ReferenceEvaluator

    est, X = fitted
    x = _inputs(est, X)
    batch = torch.export.Dim("batch")
    program = torch.onnx.export(
        est.export(T), (x,), dynamo=True, dynamic_shapes=({0: batch},), verbose=False
    )
    onnx.checker.check_model(program.model_proto, full_check=True)
    session = ReferenceEvaluator(program.model_proto)
    name = program.model_proto.graph.input[0].name
    ref = est.predict(X, n_iter=T)
    (out,) = session.run(None, {name: x.numpy()})
    assert out.shape == ref.shape
    assert _max_diff(out, ref) <= 1e-5
    (out,) = session.run(None, {name: x.numpy()[:5]})
    assert _max_diff(out, ref[:5]) <= 1e-5


def test_export_warns_for_another_solver():
    X, Y = _data()
    est = ImplicitRegressor(
        solver="anderson", n_iter=40, max_epochs=0, random_state=0, device="cpu"
    ).fit(X, Y[:, 0])
    with pytest.warns(UserWarning, match="plain Picard steps"):
        model = est.export(40)
    with torch.no_grad():
        out = model(_inputs(est, X))
    # Both reach the same fixed point.
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        ref = est.predict(X, n_iter=40)
    assert _max_diff(out, ref) <= 1e-4


@pytest.fixture(scope="module")
def classifier():
    """Three classes: export returns predict_proba (the soft-max of the logits)."""
    X, Y = _data(n=45)
    y = np.digitize(Y[:, 0], np.quantile(Y[:, 0], [1 / 3, 2 / 3]))
    est = ImplicitClassifier(
        operator__width=8, n_iter=8, max_epochs=2, random_state=0, device="cpu"
    )
    return est.fit(X, y), X


def test_classifier_export_is_predict_proba(classifier):
    est, X = classifier
    x = _inputs(est, X)
    model = est.export(T)
    with torch.no_grad():
        out = model(x)
    ref = est.predict_proba(X, n_iter=T)
    assert out.dtype == torch.float32 and tuple(out.shape) == ref.shape == (len(X), 3)
    assert _max_diff(out, ref) <= 1e-5
    labels = est.classes_[out.argmax(dim=1).numpy()]
    np.testing.assert_array_equal(labels, est.predict(X, n_iter=T))
    batch = torch.export.Dim("batch")
    program = torch.export.export(model, (x,), dynamic_shapes=({0: batch},))
    assert _max_diff(program.module()(x[:5]), ref[:5]) <= 1e-5


# ---------------------------------------------------------------------- domains
def _check_torch_export(est, X, t=4):
    x = _inputs(est, X)
    model = est.export(t)
    ref = est.predict(X, n_iter=t)
    program = torch.export.export(model, (x,))
    out = program.module()(x)
    assert tuple(out.shape) == ref.shape
    assert _max_diff(out, ref) <= 1e-5


@pytest.mark.parametrize("architecture", ["implicit", "explicit"])
def test_deblur_torch_export(architecture):
    from sklearn_implicit.datasets import make_blurred_images
    from sklearn_implicit.imaging import DeblurRegressor

    X, y = make_blurred_images(6, size=16, kernel_size=5, random_state=0)
    est = DeblurRegressor(
        "hqs",
        architecture=architecture,
        solver="picard",  # the exported steps are Picard's (the default is Anderson)
        kernel_size=5,
        width=8,
        depth=2,
        n_iter=6,
        max_epochs=0,
        random_state=0,
        device="cpu",
    ).fit(X, y)
    _check_torch_export(est, X)


@pytest.fixture(scope="module")
def flows():
    from sklearn_implicit.datasets import make_navier_stokes

    return make_navier_stokes(2, resolution=16, cache=False, random_state=0)


@pytest.mark.parametrize("architecture", ["implicit", "explicit"])
def test_fno_torch_export(flows, architecture):
    from sklearn_implicit.pde import FNORegressor

    X, y = flows
    est = FNORegressor(
        architecture,
        solver="picard",  # the exported model takes Picard steps (FNO's default is Anderson)
        width=8,
        modes=4,
        n_iter=6,
        max_epochs=0,
        random_state=0,
        device="cpu",
    ).fit(X, y)
    _check_torch_export(est, X)


@pytest.fixture(scope="module")
def lp_fitted():
    from sklearn_implicit.datasets import make_linear_programs
    from sklearn_implicit.lp import LPGNNRegressor

    X, y = make_linear_programs(
        4, n_constraints=4, n_variables=8, nnz=12, cache=False, random_state=0
    )
    est = LPGNNRegressor(emb_size=4, max_epochs=0, random_state=0, device="cpu").fit(X, y)
    return est, X


def test_lpgnn_torch_export_with_static_sizes(lp_fitted):
    est, X = lp_fitted
    x = _inputs(est, X)
    model = est.export(4, padded_shape=X.padded_shape)
    ref = est.predict(X, n_iter=4)
    program = torch.export.export(model, (x,))
    out = program.module()(x).numpy()
    # Padded variable slots are NaN in predict; the model returns them as computed.
    mask = ~np.isnan(ref)
    assert out.shape == ref.shape
    assert np.max(np.abs(out[mask] - ref[mask])) <= 1e-5


def test_lpgnn_export_reads_sizes_from_the_input_without_padded_shape(lp_fitted):
    est, X = lp_fitted
    out = est.export(4)(_inputs(est, X)).numpy()
    ref = est.predict(X, n_iter=4)
    mask = ~np.isnan(ref)
    assert np.max(np.abs(out[mask] - ref[mask])) <= 1e-5


def test_lpgnn_export_refuses_inconsistent_sizes(lp_fitted):
    est, X = lp_fitted
    with pytest.raises(ValueError, match="two positive integers"):
        est.export(4, padded_shape=(4,))
    M, N = X.padded_shape
    with pytest.raises(ValueError, match="columns"):
        est.export(4, padded_shape=(M + 1, N))(_inputs(est, X))


@pytest.fixture(scope="module")
def looped():
    from sklearn_implicit.datasets import make_pointer_chasing
    from sklearn_implicit.looped import LoopedTransformerClassifier

    X, y = make_pointer_chasing(24, n_nodes=(5, 8), n_hops=3, random_state=0)
    est = LoopedTransformerClassifier(
        d_model=16, n_heads=2, n_iter=4, max_epochs=0, random_state=0, device="cpu"
    )
    return est.fit(X, y), X


def test_looped_core_torch_export(looped):
    """The looped transformer's iteration traces (the read-out logits, before predict_proba)."""
    est, X = looped
    model = FixedBudgetModel(copy.deepcopy(est.module_).eval(), 4)
    x = _inputs(est, X)
    program = torch.export.export(model, (x,))
    logits, _, _ = est._predict_raw(X, 4, None)
    assert _max_diff(program.module()(x), logits) <= 1e-5


def test_looped_export_is_predict_proba(looped):
    est, X = looped
    x = _inputs(est, X)
    program = torch.export.export(est.export(4), (x,))
    assert _max_diff(program.module()(x), est.predict_proba(X, n_iter=4)) <= 1e-5


# ---------------------------------------------------------------------- compile
def _compiler_problem():
    """Why torch.compile cannot run here (None when it can)."""
    try:
        torch.compile(torch.nn.Linear(2, 2))(torch.ones(1, 2))
    except Exception as exc:  # the reason varies: no C++ compiler, no Triton, ...
        return f"{type(exc).__name__}: {exc}"[:200]
    return None


@pytest.mark.slow
def test_compile_fits_and_predicts_like_eager():
    problem = _compiler_problem()
    if problem is not None:
        pytest.skip(f"torch.compile is unavailable on this machine ({problem})")
    X, Y = _data(n=16)
    kw = dict(
        n_iter=2,
        tol=0.0,
        max_epochs=1,
        batch_size=16,
        operator__width=4,
        # SpectralCap (the default max_contraction) writes its power-iteration
        # buffers again when the implicit backward hook re-applies G, which the
        # compiled backward refuses (an in-place modification error).
        operator__max_contraction=None,
        random_state=0,
    )
    eager = ImplicitRegressor(device="cpu", **kw).fit(X, Y[:, 0])
    compiled = ImplicitRegressor(device="cpu", compile=True, **kw).fit(X, Y[:, 0])
    assert compiled.net_.compile is True
    # module_ is the plain module (state-dict keys without the compile wrapper's prefix).
    assert compiled.module_.state_dict().keys() == eager.module_.state_dict().keys()
    np.testing.assert_allclose(compiled.loss_curve_, eager.loss_curve_, rtol=1e-4)
    np.testing.assert_allclose(compiled.predict(X), eager.predict(X), rtol=1e-4, atol=1e-5)


def test_lpgnn_onnx_export_with_static_sizes(lp_fitted):
    pytest.importorskip("onnxscript", reason="ONNX export needs the 'export' extra (onnxscript)")
    onnx = pytest.importorskip("onnx", reason="ONNX export needs the 'export' extra (onnx)")
    from onnx.reference import ReferenceEvaluator

    est, X = lp_fitted
    x = _inputs(est, X)
    program = torch.onnx.export(
        est.export(4, padded_shape=X.padded_shape), (x,), dynamo=True, verbose=False
    )
    onnx.checker.check_model(program.model_proto, full_check=True)
    session = ReferenceEvaluator(program.model_proto)
    (out,) = session.run(None, {program.model_proto.graph.input[0].name: x.numpy()})
    ref = est.predict(X, n_iter=4)
    mask = ~np.isnan(ref)
    assert np.max(np.abs(out[mask] - ref[mask])) <= 1e-5
