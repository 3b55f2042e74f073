"""Theory benchmark: cost of ``lipschitz_curve`` and the 1/x demo's figures.

Prints a table and ends with one JSON line with the keys
``lipschitz_curve_cost_ratio`` (time of ``lipschitz_curve(X, n_iter=50, n_directions=1)``
over ``predict(X, n_iter=50)``, target <= 2.5), ``implicit_rmse_near_t128``,
``explicit_rmse_near`` (RMSE of y = 1/x on x < 0.1, equal parameter counts),
``implicit_rmse_t128``, ``explicit_rmse``, ``lipschitz_t1``, ``lipschitz_t128``,
``demo_seconds`` and, for :class:`~sklearn_implicit.theory.SufficiencyOperator` with
``F = 1/x`` at its default order (``eps = x^2``), the Picard steps from ``y_0 = 0`` to 1 %
relative error at ``x = 0.1, 0.01, 0.001``: ``sufficiency_iters_1pct_x0.1``,
``sufficiency_iters_1pct_x0.01``, ``sufficiency_iters_1pct_x0.001`` (measured by iterating
in float64) and ``sufficiency_iters_1pct_formula_agrees`` (they equal
``ceil(log(0.01) / log(1 - eps))``).

Usage: ``python benchmarks/theory.py [--quick] [--seed N]``.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time

import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from performance import bench_lipschitz_cost

from sklearn_implicit.__main__ import run_reciprocal
from sklearn_implicit.theory import SufficiencyOperator

SUFFICIENCY_X = (0.1, 0.01, 0.001)


@torch.no_grad()
def sufficiency_iterations(rtol=0.01, module_steps=50_000):
    """Steps to ``rtol`` for ``F = 1/x``: (measured, formula), lists over ``SUFFICIENCY_X``.

    The operator itself is iterated in float64 from zeros for ``module_steps`` steps; a
    sample not yet within ``rtol`` then continues with the same float64 update
    ``y + eps (F - y)`` on Python floats (bit-identical, about 50x faster per step).
    """
    G = SufficiencyOperator(lambda x: 1 / x, lambda x: 1 / x[:, 0] ** 2)
    x = torch.tensor([[v] for v in SUFFICIENCY_X], dtype=torch.float64)
    fx, eps = G.F(x), G.eps(x)
    tol = rtol * fx.abs()
    y = torch.zeros_like(x)
    above = torch.zeros_like(x, dtype=torch.int64)
    for _ in range(module_steps):
        y = G(y, x)
        above += (y - fx).abs() > tol
    measured = []
    for i in range(len(SUFFICIENCY_X)):
        t = int(above[i, 0]) + 1
        if t > module_steps:
            e, f, yv, t = float(eps[i]), float(fx[i, 0]), float(y[i, 0]), module_steps
            while abs(yv - f) > rtol * abs(f):
                yv = yv + e * (f - yv)
                t += 1
        measured.append(t)
    formula = [int(v) for v in G.iterations_to_rtol(x, rtol=rtol).tolist()]
    return measured, formula


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="quick demo and fewer repeats")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    torch.set_num_threads(2)
    repeats = 3 if args.quick else 7
    ratio, t_curve, t_pred = bench_lipschitz_cost("cpu", repeats=repeats, warmup=1)
    os.makedirs(os.path.join(os.path.dirname(__file__), "results"), exist_ok=True)
    out = os.path.join(os.path.dirname(__file__), "results", "theory_reciprocal.png")
    t0 = time.perf_counter()
    res = run_reciprocal(quick=args.quick, seed=args.seed, output=out, progress=False)
    demo_s = time.perf_counter() - t0
    t0 = time.perf_counter()
    iters, iters_formula = sufficiency_iterations()
    suff_s = time.perf_counter() - t0
    print()
    print(f"{'quantity':<40} {'value':>12}")
    print("-" * 53)
    rows = [
        ("lipschitz_curve / predict (T=50, 1 dir)", ratio),
        ("  lipschitz_curve time [s]", t_curve),
        ("  predict time [s]", t_pred),
        ("implicit RMSE near 0, t=128", res["implicit_rmse_near"][-1]),
        ("explicit RMSE near 0 (same #params)", res["explicit_rmse_near"]),
        ("implicit RMSE, t=128", res["implicit_rmse"][-1]),
        ("explicit RMSE", res["explicit_rmse"]),
        ("L_1", res["lipschitz"][0]),
        ("L_128", res["lipschitz"][-1]),
        ("demo seconds", demo_s),
    ]
    for x, t, tf in zip(SUFFICIENCY_X, iters, iters_formula):
        rows.append((f"sufficiency 1/x: steps to 1% at x={x:g}", t))
        rows.append(("  formula ceil(log .01 / log(1-eps))", tf))
    rows.append(("  sufficiency measurement seconds", suff_s))
    for name, value in rows:
        fmt = ">12d" if isinstance(value, int) else ">12.4g"
        print(f"{name:<40} {value:{fmt}}")
    print(
        json.dumps(
            {
                "lipschitz_curve_cost_ratio": round(ratio, 4),
                "implicit_rmse_near_t128": round(res["implicit_rmse_near"][-1], 4),
                "explicit_rmse_near": round(res["explicit_rmse_near"], 4),
                "implicit_rmse_t128": round(res["implicit_rmse"][-1], 4),
                "explicit_rmse": round(res["explicit_rmse"], 4),
                "lipschitz_t1": round(res["lipschitz"][0], 4),
                "lipschitz_t128": round(res["lipschitz"][-1], 2),
                "demo_seconds": round(demo_s, 1),
                **{f"sufficiency_iters_1pct_x{x:g}": t for x, t in zip(SUFFICIENCY_X, iters)},
                "sufficiency_iters_1pct_formula_agrees": iters == iters_formula,
            }
        )
    )


if __name__ == "__main__":
    main()
