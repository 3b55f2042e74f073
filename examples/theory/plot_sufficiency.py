"""
The sufficiency construction: any locally Lipschitz map as a fixed point
========================================================================

For a target ``F`` with local Lipschitz bound ``L(x)``,
:class:`~sklearn_implicit.theory.SufficiencyOperator` builds
``G(y, x) = F(x) + (1 - eps(x)) (y - F(x))`` with ``eps(x) = s(x)^{-4}``,
``s = max(1, |F|, L)``. Its fixed point is exactly ``F``, it is a contraction in ``y``, and
unlike the naive ``(1 - eta) y + eta F(x)`` it stays globally Lipschitz in ``x`` even where
``F`` is singular (see the class docstring for the proof sketch).
"""

# %%
# Slopes in x of the two operators near the singularities
# -------------------------------------------------------
# For ``F = 1/x``, ``sqrt(x)`` and ``log(x)`` we measure ``|dG/dx|`` at a fixed state
# ``y = 1`` by autograd, for ``x`` down to ``1e-5``.
import matplotlib.pyplot as plt
import torch

from sklearn_implicit.theory import NaiveOperator, SufficiencyOperator, iterate

targets = {
    "1/x": (lambda x: 1 / x, lambda x: 1 / x[:, 0] ** 2),
    "sqrt(x)": (torch.sqrt, lambda x: 0.5 / torch.sqrt(x[:, 0])),
    "log(x)": (torch.log, lambda x: 1 / x[:, 0]),
}
x = torch.logspace(-5, 0.5, 300, dtype=torch.float64).reshape(-1, 1)


def slope_in_x(G, y=1.0):
    xx = x.clone().requires_grad_(True)
    out = G(torch.full_like(xx, y), xx)
    (g,) = torch.autograd.grad(out.sum(), xx)
    return g.abs()[:, 0]


fig, axes = plt.subplots(1, 3, figsize=(13, 3.8), sharey=True)
for ax, (name, (F, L)) in zip(axes, targets.items()):
    ax.loglog(x[:, 0], slope_in_x(NaiveOperator(F, eta=0.5)), label="naive $(1-\\eta)y+\\eta F$")
    ax.loglog(x[:, 0], slope_in_x(SufficiencyOperator(F, L)), label="sufficiency construction")
    ax.set(title=f"F = {name}", xlabel="x", ylim=(1e-8, 1e11))
axes[0].set_ylabel("$|\\partial G / \\partial x|$ at y = 1")
axes[0].legend()
fig.tight_layout()

# %%
# The fixed point is F, reached with more iterations where F is steep
# -------------------------------------------------------------------
# ``mu(x) = 1 - eps(x)`` is close to 1 where ``F`` is steep: the construction trades
# test-time compute for regularity.
F, L = targets["sqrt(x)"]
G = SufficiencyOperator(F, L)
grid = torch.linspace(0.01, 3.0, 400, dtype=torch.float64).reshape(-1, 1)
fig, ax = plt.subplots(figsize=(6, 4))
for t in (1, 10, 100, 1000):
    ax.plot(grid[:, 0], iterate(G, grid, n_iter=t)[:, 0], label=f"t = {t}")
ax.plot(grid[:, 0], F(grid)[:, 0], "k--", label="F = sqrt(x)")
ax.set(xlabel="x", ylabel="$y_t(x)$", title="iterates of the sufficiency operator")
ax.legend()
print(
    "fixed-point residual max |G(F(x), x) - F(x)|:", float((G(F(grid), grid) - F(grid)).abs().max())
)
