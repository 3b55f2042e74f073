"""
Solvers and backward modes compared
===================================

Forward solvers decide how the fixed point is found; backward modes decide how training
differentiates through it. This example compares them on one regression problem: accuracy,
training time, and the memory a training step holds for the backward pass as the number of
iterations grows.
"""

# %%
# Forward: Picard against Anderson on a slowly contracting operator
# -----------------------------------------------------------------
# We fit an operator allowed to contract slowly (spectral norm of ``W`` up to 0.99), then
# solve the same inputs with both solvers.
import time

import matplotlib.pyplot as plt
import numpy as np
import torch
from sklearn.datasets import make_friedman1
from sklearn.model_selection import train_test_split
from sklearn.preprocessing import StandardScaler

from sklearn_implicit import ImplicitRegressor
from sklearn_implicit.solvers import anderson, picard

X, y = make_friedman1(n_samples=1000, noise=0.3, random_state=0)
X = StandardScaler().fit_transform(X)
y = (y - y.mean()) / y.std()
X_train, X_test, y_train, y_test = train_test_split(X, y, random_state=0)

base = ImplicitRegressor(
    operator__max_contraction=0.99,
    operator__init_contraction=0.99,
    solver="anderson",
    n_iter=100,
    max_epochs=40,
    random_state=0,
).fit(X_train, y_train)
module = base.module_.eval()
x = torch.tensor(X_test, dtype=torch.float32)
u = module.encoder(x)
z0 = module.init_state(u)
traces = {}
with torch.no_grad():
    for name, solver in [("picard", picard), ("anderson", anderson)]:
        _, info = solver(lambda z: module.operator(z, u), z0, max_iter=300, tol=1e-6, track=True)
        traces[name] = info.residual_trace.max(axis=1)
        print(f"{name:>8}: {info.n_steps.max()} applications of G to reach 1e-6 for every sample")

fig, ax = plt.subplots(figsize=(5, 3.5))
for name, trace in traces.items():
    ax.semilogy(np.arange(1, len(trace) + 1), trace, label=name)
ax.set(xlabel="applications of G", ylabel="largest relative residual", title="forward solvers")
ax.legend()
fig.tight_layout()

# %%
# Backward: accuracy and training time of the four modes
# ------------------------------------------------------
# ``implicit`` solves the adjoint fixed-point equation (the exact gradient at the fixed
# point), ``jacobian_free`` backpropagates through one step, ``phantom`` through a few damped
# steps, ``unroll`` through every step.
rows = []
for backward in ["implicit", "jacobian_free", "phantom", "unroll"]:
    est = ImplicitRegressor(backward=backward, n_iter=30, max_epochs=40, random_state=0)
    t0 = time.perf_counter()
    est.fit(X_train, y_train)
    rows.append((backward, est.score(X_test, y_test), time.perf_counter() - t0))
print(f"{'backward':>14} {'test R^2':>9} {'fit s':>7}")
for name, score, seconds in rows:
    print(f"{name:>14} {score:9.3f} {seconds:7.1f}")


# %%
# Memory: what a training step keeps for the backward pass
# --------------------------------------------------------
# We count the bytes of the tensors autograd saves during one forward pass, for a budget of
# 10 to 100 iterations (``tol=0`` so every iteration runs). Only ``unroll`` grows.
def saved_bytes(backward, n_iter):
    est = ImplicitRegressor(backward=backward, n_iter=n_iter, tol=0.0, max_epochs=0, random_state=0)
    module = est.fit(X_train, y_train).module_.train()  # the untrained module, training mode
    xt = torch.tensor(X_train, dtype=torch.float32)
    total = 0

    def pack(t):
        nonlocal total
        total += t.numel() * t.element_size()
        return t

    with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
        out = module(xt)
    out.sum().backward()
    return total


budgets = [10, 25, 50, 100]
fig, ax = plt.subplots(figsize=(5, 3.5))
for backward in ["implicit", "jacobian_free", "phantom", "unroll"]:
    mb = [saved_bytes(backward, n) / 2**20 for n in budgets]
    ax.plot(budgets, mb, marker="o", label=backward)
ax.set(xlabel="n_iter", ylabel="saved for backward (MiB)", title="training memory")
ax.legend()
fig.tight_layout()
plt.show()
