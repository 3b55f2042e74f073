"""Theory benchmark: cost of ``lipschitz_curve`` and the 1/x demo's figures.

Prints a table and ends with one JSON line with the keys
``lipschitz_curve_cost_ratio`` (time of ``lipschitz_curve(X, n_iter=50, n_directions=1)``
over ``predict(X, n_iter=50)``, target <= 2.5), ``implicit_rmse_near_t128``,
``explicit_rmse_near`` (RMSE of y = 1/x on x < 0.1, equal parameter counts),
``implicit_rmse_t128``, ``explicit_rmse``, ``lipschitz_t1``, ``lipschitz_t128`` and
``demo_seconds``.

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
    for name, value in rows:
        print(f"{name:<40} {value:>12.4g}")
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
            }
        )
    )


if __name__ == "__main__":
    main()
