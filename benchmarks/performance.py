"""Speed and memory of sklearn-implicit, measured side by side with raw torch and torchdeq.

Every figure is a ratio of two measurements taken in the same run, on the same
device, with the same number of threads: warm-ups first, then the median of
several repeats. The last line printed is one JSON object with the keys

    predict_overhead, fit_overhead, memory_ratio_implicit, memory_ratio_jacobian_free,
    memory_ratio_unroll, anderson_eval_ratio, lipschitz_curve_cost_ratio,
    torchdeq_time_ratio, torchdeq_max_abs_diff, predict_throughput_ratio,
    gpu_memory_ratio_implicit, gpu_memory_ratio_jacobian_free, gpu_memory_ratio_unroll,
    device

Targets: predict_overhead <= 1.10, fit_overhead <= 1.15, memory ratios of the
constant-memory modes <= 1.10 (unroll ~10), anderson_eval_ratio <= 0.6,
lipschitz_curve_cost_ratio <= 2.5, torchdeq_time_ratio <= 1.0 with fixed points
agreeing to the tolerance.

On CUDA only (``null`` on the CPU):

- ``predict_throughput_ratio``: samples per second of ``predict(X, n_iter=50)``
  over those of the raw torch loop, both at a batch of 65536 rows (target
  >= 0.90: predict costs at most about 10% more than the loop it wraps);
- ``gpu_memory_ratio_<mode>``: peak GPU memory of one training step
  (``torch.cuda.max_memory_allocated``, above what the module and data hold)
  at ``n_iter=100`` over ``n_iter=10`` (targets: implicit and jacobian_free
  <= 1.10; unroll grows with ``n_iter``).

Run ``python benchmarks/performance.py`` (``--quick`` for fewer repeats,
``--device cuda`` on a GPU; asking for CUDA where there is none is an error).
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
import warnings

import numpy as np
import torch

from sklearn_implicit import ImplicitRegressor
from sklearn_implicit._params import Routed
from sklearn_implicit.operators import MLPOperator
from sklearn_implicit.solvers import anderson, picard

TARGETS = {
    "predict_overhead": ("<=", 1.10),
    "fit_overhead": ("<=", 1.15),
    "memory_ratio_implicit": ("<=", 1.10),
    "memory_ratio_jacobian_free": ("<=", 1.10),
    "anderson_eval_ratio": ("<=", 0.6),
    "lipschitz_curve_cost_ratio": ("<=", 2.5),
    "torchdeq_time_ratio": ("<=", 1.0),
    "predict_throughput_ratio": (">=", 0.90),
    "gpu_memory_ratio_implicit": ("<=", 1.10),
    "gpu_memory_ratio_jacobian_free": ("<=", 1.10),
}

#: Batch of the CUDA throughput comparison (one prediction chunk on CUDA).
THROUGHPUT_BATCH = 65536


def _sync(device):
    if str(device).startswith("cuda"):
        torch.cuda.synchronize()


def timed(fn, *, repeats, warmup, device):
    """Median wall time of ``fn()`` over ``repeats`` runs after ``warmup`` runs."""
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(repeats):
        _sync(device)
        t0 = time.perf_counter()
        fn()
        _sync(device)
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def paired_ratio(fn_a, fn_b, *, repeats, warmup, device):
    """Median of per-round ratios ``time(a) / time(b)``, a and b interleaved.

    Interleaving cancels slow drifts of the machine (other processes, clocks).
    """
    for _ in range(warmup):
        fn_a()
        fn_b()
    ratios, ta, tb = [], [], []
    for _ in range(repeats):
        a = timed(fn_a, repeats=1, warmup=0, device=device)
        b = timed(fn_b, repeats=1, warmup=0, device=device)
        ratios.append(a / b)
        ta.append(a)
        tb.append(b)
    return statistics.median(ratios), statistics.median(ta), statistics.median(tb)


def make_data(n, d, seed=0):
    rng = np.random.RandomState(seed)
    X = rng.standard_normal((n, d)).astype(np.float32)
    w = rng.standard_normal(d)
    y = np.tanh(X @ w / np.sqrt(d)) + 0.1 * np.sin(3 * X[:, 0])
    return X, y


# ---------------------------------------------------------------------------- predict
def bench_predict(device, repeats, warmup):
    X, y = make_data(20_000, 32)
    est = ImplicitRegressor(max_epochs=1, batch_size=512, device=device, random_state=0).fit(
        X[:2000], y[:2000]
    )
    module = est.module_.eval()
    G = module.operator
    x_t = torch.as_tensor(X, device=est.device_)

    def raw():
        with torch.no_grad():
            z = torch.zeros(x_t.shape[0], *module.state_shape, device=x_t.device)
            for _ in range(50):
                z = G(z, x_t)
            return module.decoder(z).cpu().numpy()

    def ours():
        return est.predict(X, n_iter=50)

    np.testing.assert_allclose(ours(), raw()[:, 0], rtol=1e-5, atol=1e-6)
    ratio, t_ours, t_raw = paired_ratio(ours, raw, repeats=repeats, warmup=warmup, device=device)
    return ratio, t_ours, t_raw


def bench_predict_throughput(device, repeats, warmup):
    """Samples per second of predict(X, n_iter=50) over the raw loop's, at a large batch."""
    X, y = make_data(THROUGHPUT_BATCH, 32)
    est = ImplicitRegressor(max_epochs=1, batch_size=512, device=device, random_state=0).fit(
        X[:2000], y[:2000]
    )
    module = est.module_.eval()
    G = module.operator

    def raw():
        # The raw loop pays for the same host -> device -> host copies as predict.
        with torch.no_grad():
            x_t = torch.as_tensor(X, device=est.device_)
            z = torch.zeros(x_t.shape[0], *module.state_shape, device=x_t.device)
            for _ in range(50):
                z = G(z, x_t)
            return module.decoder(z).cpu().numpy()

    def ours():
        return est.predict(X, n_iter=50)

    np.testing.assert_allclose(ours(), raw()[:, 0], rtol=1e-5, atol=1e-5)
    # time(raw) / time(ours) = throughput(ours) / throughput(raw).
    ratio, t_raw, t_ours = paired_ratio(raw, ours, repeats=repeats, warmup=warmup, device=device)
    return ratio, len(X) / t_ours, len(X) / t_raw


def bench_lipschitz_cost(device, repeats, warmup):
    X, y = make_data(20_000, 32)
    est = ImplicitRegressor(max_epochs=1, batch_size=512, device=device, random_state=0).fit(
        X[:2000], y[:2000]
    )

    def curve():
        return est.lipschitz_curve(X, n_iter=50, n_directions=1, random_state=0)

    def pred():
        return est.predict(X, n_iter=50)

    return paired_ratio(curve, pred, repeats=repeats, warmup=warmup, device=device)


# ---------------------------------------------------------------------------- fit
def bench_fit(device, repeats, warmup):
    """One epoch of est.fit vs a hand-written loop with the same module and steps."""
    X, y = make_data(8192, 32)
    kw = dict(max_epochs=1, batch_size=256, lr=1e-3, device=device, random_state=0)

    def ours():
        return ImplicitRegressor(**kw).fit(X, y)

    template = ImplicitRegressor(**kw).fit(X[:256], y[:256])

    def raw():
        torch.manual_seed(0)
        module = template._build_module(X, y.reshape(-1, 1), Routed({}, "benchmark")).to(
            template.device_
        )
        opt = torch.optim.Adam(module.parameters(), lr=1e-3)
        loss_fn = torch.nn.MSELoss()
        Xt = torch.as_tensor(X, device=template.device_)
        yt = torch.as_tensor(y.reshape(-1, 1), dtype=torch.float32, device=template.device_)
        perm = torch.randperm(len(Xt), device=Xt.device)
        module.train()
        for start in range(0, len(Xt), 256):
            idx = perm[start : start + 256]
            opt.zero_grad()
            loss = loss_fn(module(Xt[idx]), yt[idx])
            loss.backward()
            opt.step()
        return module

    return paired_ratio(ours, raw, repeats=repeats, warmup=warmup, device=device)


# ---------------------------------------------------------------------------- memory
def saved_bytes(backward, n_iter, device):
    """Bytes of tensors saved for the backward pass during one training step."""
    X, y = make_data(512, 32)
    est = ImplicitRegressor(
        max_epochs=1, n_iter=n_iter, tol=0.0, backward=backward, device=device, random_state=0
    )
    module = est._build_module(X, y.reshape(-1, 1), Routed({}, "benchmark")).to(
        est.device if device != "auto" else "cpu"
    )
    xt = torch.as_tensor(X, device=next(module.parameters()).device)
    yt = torch.as_tensor(y.reshape(-1, 1), dtype=torch.float32, device=xt.device)
    total = 0
    seen = set()

    def pack(t):
        nonlocal total
        key = (t.untyped_storage().data_ptr(), t.storage_offset(), tuple(t.shape))
        if key not in seen:  # a tensor saved by several ops is held once
            seen.add(key)
            total += t.numel() * t.element_size()
        return t

    with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
        loss = torch.nn.functional.mse_loss(module(xt), yt)
    loss.backward()
    return total


def peak_gpu_bytes(backward, n_iter, device, n_samples=4096):
    """Peak GPU memory of one training step, above what the module and data hold."""
    X, y = make_data(n_samples, 32)
    est = ImplicitRegressor(
        max_epochs=1, n_iter=n_iter, tol=0.0, backward=backward, device=device, random_state=0
    )
    module = est._build_module(X, y.reshape(-1, 1), Routed({}, "benchmark")).to(device)
    xt = torch.as_tensor(X, device=device)
    yt = torch.as_tensor(y.reshape(-1, 1), dtype=torch.float32, device=device)
    torch.cuda.synchronize()
    torch.cuda.reset_peak_memory_stats()
    held = torch.cuda.memory_allocated()
    loss = torch.nn.functional.mse_loss(module(xt), yt)
    loss.backward()
    torch.cuda.synchronize()
    return torch.cuda.max_memory_allocated() - held


def bench_gpu_memory(device):
    out = {}
    for name in ("implicit", "jacobian_free", "unroll"):
        out[name] = peak_gpu_bytes(name, 100, device) / peak_gpu_bytes(name, 10, device)
    return out


def bench_memory(device):
    out = {}
    for name in ("implicit", "jacobian_free", "unroll"):
        out[name] = saved_bytes(name, 100, device) / saved_bytes(name, 10, device)
    return out


# ---------------------------------------------------------------------------- solvers
def slow_operator(device, seed=0, width=64, rho=0.95):
    """A regular MLP operator whose contraction modulus is about ``rho``."""
    g = torch.Generator().manual_seed(seed)
    G = MLPOperator(in_features=16, width=width, max_contraction=None)
    Q, _ = torch.linalg.qr(torch.randn(width, width, generator=g))
    eig = torch.linspace(-rho, rho, width)
    with torch.no_grad():
        G.recur.weight.copy_(Q @ torch.diag(eig) @ Q.T)
        G.inject.weight.mul_(0.1)  # small inputs: tanh stays near its linear regime
    G = G.to(device).eval()
    x = 0.5 * torch.randn(256, 16, generator=g)
    return G, x.to(device)


def bench_anderson_evals(device):
    G, x = slow_operator(device)
    z0 = torch.zeros(x.shape[0], 64, device=x.device)
    with torch.no_grad():
        _, info_p = picard(lambda z: G(z, x), z0, max_iter=5000, tol=1e-5)
        _, info_a = anderson(lambda z: G(z, x), z0, max_iter=5000, tol=1e-5, m=6)
    if not (info_p.converged.all() and info_a.converged.all()):
        raise RuntimeError("A solver did not converge on the benchmark operator.")
    return float(info_a.n_steps.max() / info_p.n_steps.max()), info_a, info_p


def bench_torchdeq(device, repeats, warmup):
    try:
        from torchdeq.solver.anderson import anderson_solver
    except ImportError:
        return None
    G, x = slow_operator(device, seed=1)
    x = x.repeat(8, 1)
    z0 = torch.zeros(x.shape[0], 64, device=x.device)
    tol, m = 1e-5, 6

    def f(z):
        return G(z, x)

    def ours():
        with torch.no_grad():
            return anderson(f, z0, max_iter=500, tol=tol, m=m, lam=1e-4)[0]

    def theirs():
        with torch.no_grad():
            return anderson_solver(f, z0, max_iter=500, tol=tol, stop_mode="rel", m=m, lam=1e-4)[0]

    diff = float((ours() - theirs()).abs().max())
    ratio, t_ours, t_theirs = paired_ratio(
        ours, theirs, repeats=repeats, warmup=warmup, device=device
    )
    return ratio, diff, t_ours, t_theirs


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer repeats (under 5 minutes)")
    parser.add_argument(
        "--device", default="auto", help='"auto" (CUDA when present), "cpu", "cuda"'
    )
    parser.add_argument("--threads", type=int, default=None, help="torch threads (default: all)")
    args = parser.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    device = (
        ("cuda" if torch.cuda.is_available() else "cpu") if args.device == "auto" else args.device
    )
    on_cuda = str(device).startswith("cuda")
    if on_cuda and not torch.cuda.is_available():
        parser.error(
            f"--device {args.device} was requested but CUDA is not available on this machine "
            f"(torch {torch.__version__}, CUDA build: {torch.version.cuda or 'none'})."
        )
    repeats, warmup = (5, 1) if args.quick else (15, 3)
    warnings.simplefilter("ignore")
    t_start = time.perf_counter()
    print(f"device={device} threads={torch.get_num_threads()} repeats={repeats}")

    results = {}
    rows = []
    r, a, b = bench_predict(device, repeats, warmup)
    results["predict_overhead"] = r
    rows.append(
        (
            "predict_overhead",
            r,
            f"predict(X, n_iter=50) {a * 1e3:.1f} ms vs raw loop {b * 1e3:.1f} ms",
        )
    )
    r, a, b = bench_fit(device, max(3, repeats // 2), 1)
    results["fit_overhead"] = r
    rows.append(
        ("fit_overhead", r, f"fit 1 epoch {a * 1e3:.0f} ms vs hand-written {b * 1e3:.0f} ms")
    )
    mem = bench_memory(device)
    for name, v in mem.items():
        results[f"memory_ratio_{name}"] = v
        rows.append((f"memory_ratio_{name}", v, "saved bytes at n_iter=100 / n_iter=10"))
    r, ia, ip = bench_anderson_evals(device)
    results["anderson_eval_ratio"] = r
    rows.append(
        (
            "anderson_eval_ratio",
            r,
            f"G applications {ia.n_steps.max()} vs Picard {ip.n_steps.max()}",
        )
    )
    r, a, b = bench_lipschitz_cost(device, repeats, warmup)
    results["lipschitz_curve_cost_ratio"] = r
    rows.append(
        ("lipschitz_curve_cost_ratio", r, f"curve {a * 1e3:.0f} ms vs predict {b * 1e3:.0f} ms")
    )
    td = bench_torchdeq(device, repeats, warmup)
    if td is None:
        results["torchdeq_time_ratio"] = None
        results["torchdeq_max_abs_diff"] = None
        rows.append(
            ("torchdeq_time_ratio", float("nan"), "torchdeq not installed (pip install .[bench])")
        )
    else:
        r, diff, a, b = td
        results["torchdeq_time_ratio"] = r
        results["torchdeq_max_abs_diff"] = diff
        rows.append(
            ("torchdeq_time_ratio", r, f"ours {a * 1e3:.1f} ms vs torchdeq {b * 1e3:.1f} ms")
        )
        rows.append(("torchdeq_max_abs_diff", diff, "max |z_ours - z_torchdeq|"))
    if on_cuda:
        r, ours_sps, raw_sps = bench_predict_throughput(device, repeats, warmup)
        results["predict_throughput_ratio"] = r
        rows.append(
            (
                "predict_throughput_ratio",
                r,
                f"predict {ours_sps:,.0f} vs raw loop {raw_sps:,.0f} samples/s "
                f"(batch {THROUGHPUT_BATCH}, n_iter=50)",
            )
        )
        for name, v in bench_gpu_memory(device).items():
            results[f"gpu_memory_ratio_{name}"] = v
            rows.append(
                (f"gpu_memory_ratio_{name}", v, "peak GPU memory at n_iter=100 / n_iter=10")
            )
    else:
        results["predict_throughput_ratio"] = None
        for name in ("implicit", "jacobian_free", "unroll"):
            results[f"gpu_memory_ratio_{name}"] = None
    results["device"] = device

    print(f"\n{'figure':<30}{'value':>10}  {'target':<10} detail")
    for name, value, detail in rows:
        target = TARGETS.get(name)
        tgt = f"{target[0]} {target[1]}" if target else ""
        ok = ""
        if target and np.isfinite(value):
            met = value <= target[1] if target[0] == "<=" else value >= target[1]
            ok = "ok" if met else "MISSED"
        print(f"{name:<30}{value:>10.3f}  {tgt:<10} {detail} {ok}")
    print(f"\ntotal {time.perf_counter() - t_start:.0f} s")
    print(
        json.dumps(
            {k: (float(f"{v:.4g}") if isinstance(v, float) else v) for k, v in results.items()}
        )
    )


if __name__ == "__main__":
    main()
