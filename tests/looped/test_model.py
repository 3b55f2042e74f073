"""Torch modules: shapes, padding masks, loop sampling and truncated-backprop memory."""

import numpy as np
import pytest
import torch

from sklearn_implicit.looped import LoopedTransformer, UntiedTransformer, sample_recurrence


def model(**kw):
    torch.manual_seed(0)
    kw = {"d_model": 16, "n_heads": 2, "d_ff": 32, **kw}
    return LoopedTransformer(10, 7, 12, **kw)


def tokens(B=3, L=8, seed=0):
    g = torch.Generator().manual_seed(seed)
    return torch.randint(0, 10, (B, L), generator=g)


def test_shapes_train_eval_and_solve():
    m = model(n_iter=3)
    x = tokens()
    assert m(x).shape == (3, 8, 8)  # 7 classes + the padding class
    m.eval()
    out = m(x)
    assert out.shape == (3, 8, 8)
    y, h, info = m.solve(x, max_iter=3, tol=0.0)
    assert torch.allclose(y, out, atol=1e-6)
    assert h.shape == (3, 8, 16)
    assert info.n_steps.tolist() == [3, 3, 3]


def test_padding_is_masked():
    m = model().eval()
    x = tokens(L=8)
    x[:, 5:] = -1
    short = m.solve(x, max_iter=4, tol=0.0)[0]
    longer = torch.cat([x, torch.full((3, 4), -1)], dim=1)
    out = m.solve(longer, max_iter=4, tol=0.0)[0]
    # Real positions do not see how much padding follows them...
    assert torch.allclose(out[:, :5], short[:, :5], atol=1e-5)
    # ...nor what the padded slots would have held.
    other = x.clone()
    other[:, 5:] = 3
    other[:, 5:] = -1
    assert torch.allclose(m.solve(other, max_iter=4, tol=0.0)[0][:, :5], short[:, :5])
    # Padded positions predict the padding class (last).
    assert (out.argmax(-1)[:, 5:] == 7).all()
    assert (out.argmax(-1)[:, :5] < 7).all()


def test_loops_change_the_answer_and_callback_sees_every_loop():
    m = model().eval()
    x = tokens()
    seen = []
    m.solve(x, max_iter=5, tol=0.0, callback=lambda k, y: seen.append((k, y.clone())))
    assert [k for k, _ in seen] == [1, 2, 3, 4, 5]
    assert not torch.allclose(seen[0][1], seen[-1][1])


def test_adaptive_exit_stops_early():
    m = model().eval()
    _, _, info = m.solve(tokens(), max_iter=20, tol=1e9)
    assert (info.n_steps == 1).all() and info.converged.all()
    _, _, info = m.solve(tokens(), max_iter=20, tol=0.0)
    assert (info.n_steps == 20).all()


def test_random_initial_state_is_reproducible_at_eval():
    m = model(init_state="random").eval()
    x = tokens()
    a = m.solve(x, max_iter=3, tol=0.0)[0]
    b = m.solve(x, max_iter=3, tol=0.0)[0]
    assert torch.equal(a, b)
    z = model(init_state="zero").eval().solve(x, max_iter=3, tol=0.0)[0]
    assert not torch.allclose(a, z)


def test_sample_recurrence_is_heavy_tailed_with_the_right_mean():
    g = torch.Generator().manual_seed(0)
    r = np.array([sample_recurrence(8.0, generator=g) for _ in range(4000)])
    assert r.min() >= 1
    assert abs(r.mean() - 9.0) < 0.4  # E[r] = mean + 1
    assert r.max() > 20


def count_saved(m, x, loops):
    m.train()
    m.train_loops = loops
    n = [0]

    def pack(t):
        n[0] += 1
        return t

    with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
        out = m(x)
    return n[0], out


@pytest.mark.parametrize("k", [1, 3])
def test_truncated_backprop_memory_is_bounded_by_k_not_by_loops(k):
    m = model(backprop_depth=k)
    x = tokens()
    saved = {r: count_saved(m, x, r)[0] for r in (k, k + 5, 40)}
    assert saved[k] == saved[k + 5] == saved[40]
    assert m.last_loops == (40 - k, k)
    # Each loop with gradient costs the same fixed number of saved tensors.
    per_loop = count_saved(model(backprop_depth=k + 1), x, 40)[0] - saved[40]
    assert per_loop > 0
    assert count_saved(model(backprop_depth=k + 2), x, 40)[0] - saved[40] == 2 * per_loop


def test_gradient_reaches_prelude_and_core_through_truncated_loops():
    m = model(backprop_depth=2)
    _, out = count_saved(m, tokens(), 10)
    out[..., :-1].sum().backward()
    for part in (m.prelude, m.core, m.coda):
        grads = [p.grad for p in part.parameters() if p.grad is not None]
        assert grads and any(g.abs().sum() > 0 for g in grads)


def test_untied_has_equal_parameters_at_one_layer_and_flat_budget():
    looped = model()
    torch.manual_seed(0)
    untied = UntiedTransformer(10, 7, 12, d_model=16, n_heads=2, d_ff=32, n_layers=1)
    n = sum(p.numel() for p in looped.parameters())
    assert sum(p.numel() for p in untied.parameters()) == n
    untied.eval()
    seen = []
    y, _, info = untied.solve(tokens(), max_iter=3, tol=0.0, callback=lambda k, o: seen.append(o))
    assert len(seen) == 3 and all(torch.equal(s, y) for s in seen)
    assert info.status == "converged"
    deeper = UntiedTransformer(10, 7, 12, d_model=16, n_heads=2, d_ff=32, n_layers=3)
    per_core = sum(p.numel() for p in looped.core.parameters())
    assert sum(p.numel() for p in deeper.parameters()) == n + 2 * per_core


def test_training_draws_a_loop_count_per_batch_and_truncates():
    torch.manual_seed(1)
    m = model(mean_recurrence=10.0, backprop_depth=3).train()
    x = tokens()
    seen = []
    for _ in range(30):
        m(x)
        seen.append(m.last_loops)
    totals = {a + b for a, b in seen}
    assert len(totals) > 5  # randomized depth
    assert all(b == min(3, a + b) for a, b in seen)  # gradient through the last <= k loops
    assert max(totals) > 10
