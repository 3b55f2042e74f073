"""
Deblurring: an implicit plug-and-play model against the same denoiser applied once
==================================================================================

The paper's imaging case at laptop scale. Crops of real photographs bundled with
scikit-image and scikit-learn are blurred by a motion kernel and corrupted by noise
(:func:`~sklearn_implicit.datasets.make_blurred_images`). Two models share one small
residual CNN denoiser ``H`` (the same parameters, plus one scalar step for the
implicit model):

- the **explicit** baseline (``architecture="explicit"``) applies ``H`` once to the
  blurred image;
- the **implicit** model predicts the fixed point of the proximal-gradient (PGD)
  operator ``G(y, x) = H(y - gamma A^T (A y - x))``, which uses the known blur ``A``
  at every iteration.

The implicit model trains *at its equilibrium* (the estimator's defaults, as in the
paper): Anderson acceleration to ``tol=1e-4`` in the forward pass and implicit
differentiation there. We compare the restored images, then follow the implicit model
far past its training depth: its PSNR after ``t`` iterations rises and stays flat, its
residual falls to zero and its empirical Lipschitz constant ``L_t`` levels off. A model
trained through a truncated solve (15 Picard steps) is shown beside it: it peaks at its
training budget and then degrades, because nothing asked it to contract there.
"""

# %%
# Data
# ----
# ``X`` and ``y`` are flattened 32x32 grayscale images, one per row; train and test
# crops come from different photographs.
import warnings

import matplotlib.pyplot as plt
import numpy as np
from sklearn.exceptions import ConvergenceWarning

from sklearn_implicit.datasets import make_blurred_images
from sklearn_implicit.imaging import DeblurRegressor, peak_signal_noise_ratio

warnings.simplefilter("ignore", ConvergenceWarning)
X_train, y_train = make_blurred_images(192, size=32, kernel="motion", random_state=0)
X_test, y_test = make_blurred_images(24, size=32, subset="test", random_state=1)
print(X_train.shape, y_train.shape)
print(f"PSNR of the blurred test images: {peak_signal_noise_ratio(y_test, X_test):.2f} dB")

# %%
# Fit the explicit baseline and the implicit PGD model
# ----------------------------------------------------
# The implicit model keeps the defaults: it solves for the fixed point (Anderson, at most
# ``n_iter=30`` steps, ``tol=1e-4``) and trains by implicit differentiation there (memory
# independent of the number of iterations; the adjoint takes 10 Picard steps). The
# truncated model backpropagates through 15 Picard steps instead, for the same epochs.
common = dict(width=12, depth=4, batch_size=16, random_state=0)
explicit = DeblurRegressor(architecture="explicit", max_epochs=16, lr=2e-3, **common)
explicit.fit(X_train, y_train)
implicit = DeblurRegressor("pgd", max_epochs=6, lr=5e-3, **common).fit(X_train, y_train)
truncated = DeblurRegressor(
    "pgd",
    solver="picard",
    n_iter=15,
    tol=1e-3,
    backward__max_iter=8,
    max_epochs=6,
    lr=5e-3,
    **common,
).fit(X_train, y_train)
print(f"parameters: explicit {explicit.n_parameters_}, implicit {implicit.n_parameters_}")
print(f"test PSNR explicit: {explicit.score(X_test, y_test):.2f} dB")
print(f"test PSNR implicit: {implicit.score(X_test, y_test):.2f} dB")

# %%
# Restored images
# ---------------
i = int(np.argmax(y_test.std(axis=1)))
panels = {
    "blurred": X_test[i],
    "explicit": explicit.predict(X_test[i : i + 1])[0],
    "implicit PGD": implicit.predict(X_test[i : i + 1])[0],
    "sharp": y_test[i],
}
fig, axes = plt.subplots(1, 4, figsize=(10, 2.8))
for ax, (title, img) in zip(axes, panels.items()):
    ax.imshow(np.clip(img.reshape(32, 32), 0, 1), cmap="gray", vmin=0, vmax=1)
    ax.set_title(title)
    ax.axis("off")
fig.tight_layout()

# %%
# PSNR, residual and Lipschitz constant over the budget ``t``
# -----------------------------------------------------------
# ``budget_curve`` scores ``predict(X, n_iter=t)`` for every ``t`` from one trajectory, with
# the mean relative residual ``||G(y_t) - y_t|| / ||G(y_t)||`` and ``L_t``: the blurred
# images are perturbed along single Fourier modes (eigenvectors of the blur) of norm ``eps``
# and the largest output/input ratio is kept. We go to five times the training depth.
T = 5 * implicit.n_iter
curve = implicit.budget_curve(X_test, y_test, n_iter=T, eps=1e-2, n_directions=2, random_state=0)
short = truncated.budget_curve(X_test, y_test, n_iter=T, eps=1e-2, n_directions=2, random_state=0)
for t in (1, 5, 15, 30, 60, T):
    print(
        f"t={t:3d}: PSNR equilibrium {curve.score[t - 1]:.2f} dB, "
        f"truncated {short.score[t - 1]:.2f} dB"
    )
print(f"95% of the gain at t = {curve.budget_at(0.95)}")

fig, (ax1, ax2, ax3) = plt.subplots(1, 3, figsize=(13, 3.5))
ax1.plot(curve.n_iter, curve.score, label="implicit PGD (equilibrium)")
ax1.plot(short.n_iter, short.score, label="implicit PGD (truncated, 15 steps)")
ax1.axhline(explicit.score(X_test, y_test), color="k", ls="--", label="explicit")
ax1.set(xlabel="iterations t", ylabel="test PSNR (dB)")
ax1.legend()
ax2.semilogy(curve.n_iter, curve.residual)
ax2.semilogy(short.n_iter, short.residual)
ax2.set(xlabel="iterations t", ylabel="mean relative residual")
ax3.plot(curve.n_iter, curve.lipschitz)
ax3.plot(short.n_iter, short.lipschitz)
ax3.set(xlabel="iterations t", ylabel="$L_t$ (max)")
fig.tight_layout()
plt.show()
