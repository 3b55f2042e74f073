"""Deblurring benchmark: explicit denoiser vs implicit PnP-PGD and PnP-HQS (paper section 2).

Trains, on blurred crops of real photographs (``make_blurred_images``, motion
kernel, noise 0.03), the explicit baseline (``architecture="explicit"``: the
denoiser applied once to the blurred input) and the implicit PGD and HQS models
with the same denoiser (same parameter count up to the implicit models' one
scalar step), then reports the test PSNR of each, the PSNR of the
better implicit model after every budget ``t`` and its Lipschitz curve ``L_t``
(single-frequency perturbations, max over images and directions).

The explicit baseline gets four times the implicit models' epochs (the paper:
twice), since one of its epochs costs one denoiser application per image. The
implicit models train with implicit differentiation (adjoint fixed-point solve,
memory independent of the number of iterations), from ``y_0 = 0``.

Usage::

    python benchmarks/deblurring.py --quick   # < 10 min on 2 CPU cores
    python benchmarks/deblurring.py           # larger; uses a GPU when present

The last line printed is one JSON object with the keys ``psnr_explicit``,
``psnr_implicit``, ``psnr_pgd``, ``psnr_hqs``, ``psnr_by_iter``,
``lipschitz_by_iter``, ``n_params_implicit``, ``n_params_explicit``.
"""

from __future__ import annotations

import argparse
import json
import time
import warnings
from pathlib import Path

import numpy as np
import torch
from sklearn.exceptions import ConvergenceWarning

from sklearn_implicit.datasets import make_blurred_images
from sklearn_implicit.imaging import DeblurRegressor, peak_signal_noise_ratio

CONFIGS = {
    "quick": dict(
        n_train=256,
        n_test=48,
        size=32,
        width=16,
        depth=4,
        epochs=5,
        epochs_explicit=20,
        n_iter=15,
        backward_iter=8,
        t_max=30,
        n_lipschitz=8,
    ),
    "full": dict(
        n_train=1024,
        n_test=128,
        size=40,
        width=32,
        depth=5,
        epochs=10,
        epochs_explicit=40,
        n_iter=30,
        backward_iter=20,
        t_max=60,
        n_lipschitz=16,
    ),
}


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="small run (< 10 min on 2 CPUs)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--kernel", choices=["motion", "gaussian"], default="motion")
    parser.add_argument("--device", default="auto")
    parser.add_argument("--output", default="benchmarks/results/deblurring.png")
    args = parser.parse_args(argv)
    torch.set_num_threads(2)
    warnings.filterwarnings("ignore", category=ConvergenceWarning)
    cfg = CONFIGS["quick" if args.quick else "full"]
    t_start = time.perf_counter()

    X_train, y_train = make_blurred_images(
        cfg["n_train"],
        size=cfg["size"],
        kernel=args.kernel,
        subset="train",
        random_state=args.seed,
    )
    X_test, y_test = make_blurred_images(
        cfg["n_test"],
        size=cfg["size"],
        kernel=args.kernel,
        subset="test",
        random_state=args.seed + 1,
    )
    print(f"config: {cfg}")
    print(f"train {X_train.shape} (train photographs), test {X_test.shape} (other photographs)")
    print(f"blurred input PSNR on test: {peak_signal_noise_ratio(y_test, X_test):.2f} dB")

    common = dict(
        kernel=args.kernel,
        width=cfg["width"],
        depth=cfg["depth"],
        lr=2e-3,
        batch_size=16,
        device=args.device,
        random_state=args.seed,
    )
    models, psnr, times = {}, {}, {}
    implicit = dict(
        n_iter=cfg["n_iter"],
        tol=1e-3,
        backward="implicit",
        max_epochs=cfg["epochs"],
        backward__max_iter=cfg["backward_iter"],
    )
    for name, params in (
        ("explicit", dict(architecture="explicit", max_epochs=cfg["epochs_explicit"])),
        ("pgd", dict(scheme="pgd", **implicit)),
        ("hqs", dict(scheme="hqs", **implicit)),
    ):
        t0 = time.perf_counter()
        est = DeblurRegressor(**params, **common).fit(X_train, y_train)
        times[name] = time.perf_counter() - t0
        models[name] = est
        psnr[name] = est.score(X_test, y_test)
        if name == "explicit":
            layer = est.module_.layers[0]
            step = "step     -"
        else:
            layer = est.module_.operator
            step = f"step {layer.step.item():.3f}"
        print(
            f"{name:>8}: test PSNR {psnr[name]:6.2f} dB  params {est.n_parameters_}  "
            f"{step}  sigma {layer.noise_level.item():.4f}  "
            f"fit {times[name]:.0f} s  loss {est.loss_curve_[0]:.2e} -> {est.loss_curve_[-1]:.2e}"
        )

    best = "hqs" if psnr["hqs"] >= psnr["pgd"] else "pgd"
    chosen = models[best]
    psnr_by_iter = [
        peak_signal_noise_ratio(y_test, y_t)
        for y_t in chosen.staged_predict(X_test, n_iter=cfg["t_max"])
    ]
    curve = chosen.lipschitz_curve(
        X_test[: cfg["n_lipschitz"]],
        n_iter=cfg["t_max"],
        eps=1e-2,
        n_directions=4,
        reduce="max",
        random_state=args.seed,
    )
    lips = [float(v) for v in curve.lipschitz]
    print(f"\nimplicit {best.upper()} over the budget t (test set):")
    print(f"{'t':>4} {'PSNR (dB)':>10} {'L_t':>8}")
    for t in range(1, cfg["t_max"] + 1):
        if t <= 5 or t % 5 == 0:
            print(f"{t:>4} {psnr_by_iter[t - 1]:>10.2f} {lips[t - 1]:>8.3f}")
    gain = max(psnr["pgd"], psnr["hqs"]) - psnr["explicit"]
    print(
        f"\nimplicit ({best}) - explicit: {gain:+.2f} dB (target >= +1 dB; paper +1.23 PGD, "
        f"+2.21 HQS); L_1 {lips[0]:.3f} -> L_{cfg['t_max']} {lips[-1]:.3f}"
    )
    print(f"total time {time.perf_counter() - t_start:.0f} s")
    _plot(args.output, models, X_test, y_test, best, psnr_by_iter, lips, psnr)

    print(
        json.dumps(
            {
                "psnr_explicit": round(psnr["explicit"], 3),
                "psnr_implicit": round(psnr[best], 3),
                "psnr_pgd": round(psnr["pgd"], 3),
                "psnr_hqs": round(psnr["hqs"], 3),
                "psnr_by_iter": [round(v, 3) for v in psnr_by_iter],
                "lipschitz_by_iter": [round(v, 4) for v in lips],
                "n_params_implicit": int(chosen.n_parameters_),
                "n_params_explicit": int(models["explicit"].n_parameters_),
            }
        )
    )


def _plot(output, models, X_test, y_test, best, psnr_by_iter, lips, psnr):
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:  # pragma: no cover
        return
    side = int(np.sqrt(X_test.shape[1]))
    i = int(np.argmax(y_test.std(axis=1)))
    panels = [
        ("blurred", X_test[i]),
        (f"explicit {psnr['explicit']:.1f} dB", models["explicit"].predict(X_test[i : i + 1])[0]),
        (f"implicit {best} {psnr[best]:.1f} dB", models[best].predict(X_test[i : i + 1])[0]),
        ("sharp", y_test[i]),
    ]
    fig, axes = plt.subplots(1, 6, figsize=(18, 3.2))
    for ax, (title, img) in zip(axes, panels):
        ax.imshow(np.clip(img.reshape(side, side), 0, 1), cmap="gray", vmin=0, vmax=1)
        ax.set_title(title)
        ax.axis("off")
    t = np.arange(1, len(psnr_by_iter) + 1)
    axes[4].plot(t, psnr_by_iter, label=f"implicit {best}")
    axes[4].axhline(psnr["explicit"], color="k", ls="--", label="explicit")
    axes[4].set(xlabel="t", ylabel="test PSNR (dB)")
    axes[4].legend()
    axes[5].plot(t, lips)
    axes[5].set(xlabel="t", ylabel="L_t (max)")
    fig.tight_layout()
    Path(output).parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(output, dpi=100)
    print(f"figure: {output}")


if __name__ == "__main__":
    main()
