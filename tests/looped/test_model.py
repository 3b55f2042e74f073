"""Model parts on the module protocol: shapes, padding masks, loop sampling, truncated-backprop memory."""

import numpy as np
import pytest
import torch

from sklearn_implicit import FixedDepthModule, ImplicitModule
from sklearn_implicit.backward import RandomDepth, sample_depth
from sklearn_implicit.looped import transformer_parts
from sklearn_implicit.solvers import picard


def model(mean=8.0, k=4, n_iter=8, init_state="zero"):
    torch.manual_seed(0)
    prelude, (core,), coda = transformer_parts(
        10, 7, 12, d_model=16, n_heads=2, d_ff=32, init_state=init_state
    )
    return ImplicitModule(
        core,
        prelude,
        coda,
        solver=picard,
        backward=RandomDepth(mean=mean, k=k),
        n_iter=n_iter,
        tol=0.0,
    )


def explicit(n_layers=1):
    torch.manual_seed(0)
    prelude, cores, coda = transformer_parts(
        10, 7, 12, d_model=16, n_heads=2, d_ff=32, n_cores=n_layers
    )
    return FixedDepthModule(cores, prelude, coda)


def tokens(B=3, L=8, seed=0):
    g = torch.Generator().manual_seed(seed)
    return torch.randint(0, 10, (B, L), generator=g)


def test_shapes_train_and_solve():
    m = model()
    x = tokens()
    m.backward.depth = 3
    assert m(x).shape == (3, 8, 8)  # 7 classes + the padding class
    m.eval()
    y, h, info = m.solve(x, max_iter=3, tol=0.0)
    assert y.shape == (3, 8, 8) and h.shape == (3, 8, 16)
    assert info.n_steps.tolist() == [3, 3, 3]
    # The training pass at depth 3 from the same start is the same function.
    with torch.no_grad():
        u = m.encode(x)
        z = m.init_state(u)
        for _ in range(3):
            z = m.step(z, u)
        assert torch.allclose(m.read(z, u), y, atol=1e-6)


def test_padding_is_masked():
    m = model().eval()
    x = tokens(L=8)
    x[:, 5:] = -1
    short = m.solve(x, max_iter=4, tol=0.0)[0]
    longer = torch.cat([x, torch.full((3, 4), -1)], dim=1)
    out = m.solve(longer, max_iter=4, tol=0.0)[0]
    # Real positions do not see how much padding follows them.
    assert torch.allclose(out[:, :5], short[:, :5], atol=1e-5)
    # Padded positions predict the padding class (last).
    assert (out.argmax(-1)[:, 5:] == 7).all()
    assert (out.argmax(-1)[:, :5] < 7).all()


def test_loops_change_the_answer_and_callback_sees_every_loop():
    m = model().eval()
    seen = []
    m.solve(tokens(), max_iter=5, tol=0.0, callback=lambda k, y: seen.append((k, y.clone())))
    assert [k for k, _ in seen] == [1, 2, 3, 4, 5]
    assert not torch.allclose(seen[0][1], seen[-1][1])


def test_adaptive_exit_stops_early():
    m = model().eval()
    _, _, info = m.solve(tokens(), max_iter=20, tol=1e9)
    assert (info.n_steps == 1).all() and info.converged.all()
    _, _, info = m.solve(tokens(), max_iter=20, tol=0.0)
    assert (info.n_steps == 20).all()


def test_random_initial_state_is_reproducible_without_gradients():
    m = model(init_state="random").eval()
    x = tokens()
    a = m.solve(x, max_iter=3, tol=0.0)[0]
    b = m.solve(x, max_iter=3, tol=0.0)[0]
    assert torch.equal(a, b)
    z = model(init_state="zero").eval().solve(x, max_iter=3, tol=0.0)[0]
    assert not torch.allclose(a, z)
    # With gradients (training) the start is drawn afresh.
    u = m.encode(x)
    assert not torch.equal(m.init_state(u), m.init_state(u))


def test_sample_depth_is_heavy_tailed_with_the_right_mean():
    g = torch.Generator().manual_seed(0)
    r = np.array([sample_depth(8.0, generator=g) for _ in range(4000)])
    assert r.min() >= 1
    assert abs(r.mean() - 9.0) < 0.4  # E[r] = mean + 1
    assert r.max() > 20


def count_saved(m, x, loops):
    m.train()
    m.backward.depth = loops
    n = [0]

    def pack(t):
        n[0] += 1
        return t

    with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
        out = m(x)
    return n[0], out


@pytest.mark.parametrize("k", [1, 3])
def test_truncated_backprop_memory_is_bounded_by_k_not_by_loops(k):
    m = model(k=k)
    x = tokens()
    saved = {r: count_saved(m, x, r)[0] for r in (k, k + 5, 40)}
    assert saved[k] == saved[k + 5] == saved[40]
    assert m.backward.last_depth == (40 - k, k)
    # Each loop with gradient costs the same fixed number of saved tensors.
    per_loop = count_saved(model(k=k + 1), x, 40)[0] - saved[40]
    assert per_loop > 0
    assert count_saved(model(k=k + 2), x, 40)[0] - saved[40] == 2 * per_loop


def test_gradient_reaches_prelude_and_core_through_truncated_loops():
    m = model(k=2)
    _, out = count_saved(m, tokens(), 10)
    out[..., :-1].sum().backward()
    for part in (m.encoder, m.operator, m.decoder):
        grads = [p.grad for p in part.parameters() if p.grad is not None]
        assert grads and any(g.abs().sum() > 0 for g in grads)


def test_explicit_has_equal_parameters_at_one_layer_and_flat_budget():
    n = sum(p.numel() for p in model().parameters())
    untied = explicit(1).eval()
    assert sum(p.numel() for p in untied.parameters()) == n
    seen = []
    y, _, info = untied.solve(tokens(), max_iter=3, tol=0.0, callback=lambda k, o: seen.append(o))
    assert len(seen) == 3 and all(torch.equal(s, y) for s in seen)
    assert info.status == "converged"
    per_core = sum(p.numel() for p in model().operator.parameters())
    assert sum(p.numel() for p in explicit(3).parameters()) == n + 2 * per_core


def test_training_draws_a_loop_count_per_batch_and_truncates():
    torch.manual_seed(1)
    m = model(mean=10.0, k=3).train()
    x = tokens()
    seen = []
    for _ in range(30):
        m(x)
        seen.append(m.backward.last_depth)
    totals = {a + b for a, b in seen}
    assert len(totals) > 5  # randomized depth
    assert all(b == min(3, a + b) for a, b in seen)  # gradient through the last <= k loops
    assert max(totals) > 10


def test_eval_block_is_twice_differentiable_and_matches_the_fused_kernel():
    m = model().eval()
    x = tokens()
    with torch.no_grad():
        u = m.encode(x)
        z = torch.randn(3, 8, 16)
        fused = m.step(z, u)
    z = z.requires_grad_(True)
    plain = m.step(z, u)
    assert torch.allclose(plain, fused, atol=1e-5)
    (g,) = torch.autograd.grad(plain.sum(), z, create_graph=True)
    (gg,) = torch.autograd.grad(g.sum(), z)
    assert torch.isfinite(gg).all()
