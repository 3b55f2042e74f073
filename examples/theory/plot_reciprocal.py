"""
The 1/x operator: a regular G with a singular fixed point
=========================================================

``G(y, x) = y - eta (x y - 1)`` (:class:`~sklearn_implicit.theory.ReciprocalOperator`) is
smooth and globally Lipschitz in ``x`` (constant ``eta |y|``), and a contraction in ``y``
with modulus ``mu(x) = 1 - eta x`` on ``(0, 1]``. Its fixed point is ``1/x``, which is only
*locally* Lipschitz: the steepness comes from ``mu(x) -> 1`` as ``x -> 0``, and the iterates
``y_t`` need more and more test-time compute to reach it. The empirical Lipschitz constant
``L_t`` of ``x -> y_t(x)`` grows with ``t``.
"""

# %%
# Iterates approach 1/x, slowly near the singularity
# --------------------------------------------------
import matplotlib.pyplot as plt
import numpy as np
import torch

from sklearn_implicit.lipschitz import contraction_modulus, lipschitz_in_x, necessity_bound
from sklearn_implicit.theory import ReciprocalOperator, iterate

G = ReciprocalOperator(eta=0.9)
x = torch.linspace(0.02, 1.0, 500, dtype=torch.float64).reshape(-1, 1)
traj = iterate(G, x, n_iter=256, return_trajectory=True)  # (T, n, 1), one trajectory

fig, axes = plt.subplots(1, 2, figsize=(10, 4))
for t in (1, 4, 16, 64, 256):
    axes[0].plot(x[:, 0], traj[t - 1, :, 0], label=f"t = {t}")
axes[0].plot(x[:, 0], 1 / x[:, 0], "k--", label="1/x")
axes[0].set(xlabel="x", ylabel="$y_t(x)$", ylim=(0, 55), title="iterates $y_t$ of G")
axes[0].legend()

# %%
# L_t grows with the budget
# -------------------------
# Finite differences of the whole trajectory give every ``L_t`` at once.
d = 1e-7
traj_p = iterate(G, x + d, n_iter=256, return_trajectory=True)
L = ((traj_p - traj).abs() / d).amax(dim=(1, 2)).numpy()
axes[1].loglog(np.arange(1, 257), L, label="$L_t$")
axes[1].axhline(1 / 0.02**2, color="k", ls=":", label="Lipschitz of 1/x on the domain")
axes[1].set(xlabel="budget t", ylabel="$L_t$", title="$L_t$ of $x \\mapsto y_t(x)$")
axes[1].legend()
fig.tight_layout()

# %%
# Regularity: mu(x) -> 1 explains the steep fixed point
# -----------------------------------------------------
# The necessity bound ``Lip(y*) <= Lip_x(G) / (1 - mu(x))`` is tight here:
# ``eta (1/x) / (eta x) = 1/x^2``, the exact slope of ``1/x``.
xs = torch.tensor([[0.02], [0.1], [0.5], [1.0]], dtype=torch.float64)
mu = contraction_modulus(G, 1 / xs, xs)
lip = lipschitz_in_x(G, 1 / xs, xs)
for xi, m, lx, b in zip(xs[:, 0].tolist(), mu, lip, necessity_bound(lip, mu)):
    print(
        f"x = {xi:4.2f}: mu = {m:.3f}, Lip_x G = {lx:6.2f}, bound = {b:8.1f}, |d(1/x)/dx| = {1 / xi**2:8.1f}"
    )

# %%
# For x < 0 the same operator diverges (``|1 - eta x| > 1``): regularity is a property of
# the operator *on its domain*.
print("y_200 at x = -0.5:", float(iterate(G, torch.tensor([[-0.5]]), n_iter=200)))
