"""``python -m sklearn_implicit demo --task deblur``: explicit denoiser vs implicit PnP-HQS."""

from __future__ import annotations

import time

import numpy as np

__all__ = ["run"]


def run(*, quick: bool = True, seed: int = 0, output: str | None = None) -> dict:
    """Train a small explicit denoiser and an implicit PnP-HQS model on blurred photographs.

    Both use the same residual CNN (the implicit model adds one scalar, its
    step); the explicit model (``architecture="explicit"``) applies it once to
    the blurred input, the implicit one iterates
    ``G(y, x) = H((A^T A + beta I)^{-1} (A^T x + beta y))`` to its fixed point.

    Parameters
    ----------
    quick : bool, default=True
        Small data and few epochs (under a minute on a CPU); False trains
        longer on more crops.
    seed : int, default=0
        Seed of the data and the models.
    output : str, optional
        Path of a PNG: blurred / explicit / implicit / sharp images, PSNR and
        ``L_t`` over the budget ``t``.

    Returns
    -------
    dict
        ``psnr_blurred``, ``psnr_explicit``, ``psnr_implicit`` (test PSNR, dB),
        ``psnr_by_iter`` and ``lipschitz_by_iter`` (implicit model,
        ``t = 1..T``), ``n_params_implicit``, ``n_params_explicit``, ``seconds``.
    """
    import warnings

    from sklearn.exceptions import ConvergenceWarning

    from . import DeblurRegressor, peak_signal_noise_ratio
    from ._data import make_blurred_images

    start = time.perf_counter()
    n_train, n_test, epochs, T = (192, 32, 5, 15) if quick else (256, 64, 6, 30)
    X_train, y_train = make_blurred_images(n_train, size=32, random_state=seed)
    X_test, y_test = make_blurred_images(n_test, size=32, subset="test", random_state=seed + 1)
    common = dict(width=12, depth=4, lr=2e-3, n_iter=12, random_state=seed)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        explicit = DeblurRegressor(architecture="explicit", max_epochs=2 * epochs, **common).fit(
            X_train, y_train
        )
        implicit = DeblurRegressor("hqs", max_epochs=epochs, **common).fit(X_train, y_train)
        p_blur = peak_signal_noise_ratio(y_test, X_test)
        p_exp = explicit.score(X_test, y_test)
        p_imp = implicit.score(X_test, y_test)
        by_iter = [
            peak_signal_noise_ratio(y_test, p) for p in implicit.staged_predict(X_test, n_iter=T)
        ]
        lips = implicit.lipschitz_curve(X_test[:6], n_iter=T, eps=1e-2, random_state=seed).lipschitz
    print(f"Deblur demo: {n_train} train / {n_test} test 32x32 crops, motion blur, noise 0.03")
    print(f"{'model':<20} {'params':>7} {'test PSNR (dB)':>15}")
    print(f"{'blurred input':<20} {'-':>7} {p_blur:>15.2f}")
    print(f"{'explicit denoiser':<20} {explicit.n_parameters_:>7} {p_exp:>15.2f}")
    print(f"{'implicit PnP-HQS':<20} {implicit.n_parameters_:>7} {p_imp:>15.2f}")
    print(f"\n{'t':>4} {'PSNR':>7} {'L_t':>7}")
    for t in range(1, T + 1):
        if t <= 3 or t % 3 == 0:
            print(f"{t:>4} {by_iter[t - 1]:>7.2f} {lips[t - 1]:>7.3f}")
    if output:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)
            _plot(output, X_test, y_test, explicit, implicit, by_iter, lips, p_exp)
        print(f"figure: {output}")
    seconds = time.perf_counter() - start
    print(f"time: {seconds:.0f} s")
    return {
        "psnr_blurred": float(p_blur),
        "psnr_explicit": float(p_exp),
        "psnr_implicit": float(p_imp),
        "psnr_by_iter": [float(v) for v in by_iter],
        "lipschitz_by_iter": [float(v) for v in lips],
        "n_params_implicit": int(implicit.n_parameters_),
        "n_params_explicit": int(explicit.n_parameters_),
        "seconds": float(seconds),
    }


def _plot(output, X_test, y_test, explicit, implicit, by_iter, lips, p_exp):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    i = int(np.argmax(y_test.std(axis=1)))
    fig, axes = plt.subplots(1, 6, figsize=(18, 3.2))
    images = [
        ("blurred", X_test[i]),
        ("explicit", explicit.predict(X_test[i : i + 1])[0]),
        ("implicit HQS", implicit.predict(X_test[i : i + 1])[0]),
        ("sharp", y_test[i]),
    ]
    for ax, (title, img) in zip(axes, images):
        ax.imshow(np.clip(img.reshape(32, 32), 0, 1), cmap="gray", vmin=0, vmax=1)
        ax.set_title(title)
        ax.axis("off")
    t = np.arange(1, len(by_iter) + 1)
    axes[4].plot(t, by_iter, label="implicit HQS")
    axes[4].axhline(p_exp, color="k", ls="--", label="explicit")
    axes[4].set(xlabel="t", ylabel="test PSNR (dB)")
    axes[4].legend()
    axes[5].plot(t, lips)
    axes[5].set(xlabel="t", ylabel="L_t (max)")
    fig.tight_layout()
    fig.savefig(output, dpi=100)
    plt.close(fig)
