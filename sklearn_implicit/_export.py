"""A fitted estimator as a plain torch module with its budget frozen (for ``torch.export`` / ONNX).

:meth:`BaseImplicitEstimator.export(n_iter) <sklearn_implicit.ImplicitRegressor.export>`
returns a :class:`FixedBudgetModel`: a deep copy of the fitted module, in
eval mode, whose ``forward`` is the module protocol unrolled ``n_iter``
times::

    u = module.encode(x)
    z = module.init_state(u)
    for _ in range(n_iter):          # a Python loop: traced as n_iter copies of G
        z = module.step(z, u)        # (z + damping * (G(z, u) - z) with a damped Picard solver)
    y = head(module.read(z, u))      # head: predict's formatting, as tensor ops

(a :class:`~sklearn_implicit.FixedDepthModule` is its own ``forward``). There
is no solver, no tolerance, no per-sample early stop and no data-dependent
control flow, so ``torch.export.export`` and ``torch.onnx.export`` trace it as
one static graph. ``head`` is the estimator's :meth:`_export_head` hook: the
tensor counterpart of ``_format_output`` (``predict_proba`` for classifiers).

These are the iterates of the Picard solver, so ``export(t)`` computes
``predict(X, n_iter=t)`` exactly when the estimator solves with
``solver="picard"`` (damped or not). Another solver (``"anderson"``) takes
other steps to the same fixed point: the exported model then agrees with
``predict`` only once both have converged, and :func:`export_estimator` warns.
"""

from __future__ import annotations

import copy
import warnings

from torch import nn

from ._module import FixedDepthModule
from .solvers import picard

__all__ = ["FixedBudgetModel", "SingleOutput", "default_head", "export_estimator"]


class SingleOutput(nn.Module):
    """``(n, 1)`` (or ``(n, ...)``) outputs to ``(n,)``: the first output column.

    The tensor counterpart of the regressors' formatting for a 1-D ``y``.
    """

    def forward(self, y):
        return y.reshape(y.shape[0], -1)[:, 0]


class FixedBudgetModel(nn.Module):
    """A fitted implicit model that applies its operator exactly ``n_iter`` times.

    Parameters
    ----------
    module : ImplicitModule or FixedDepthModule
        The fitted module (the model keeps it as given: pass a copy).
    n_iter : int
        Number of applications of ``G`` from ``z_0`` (unused by a
        fixed-depth module, whose depth is its number of layers).
    head : torch.nn.Module, optional
        Maps the module's read-out to the returned tensor; identity when None.
    damping : float, default=1.0
        Picard relaxation: ``z <- z + damping * (G(z, u) - z)``.

    Notes
    -----
    ``forward(x)`` takes what the estimator's module takes (the tensor
    ``est._to_tensor(X, device)`` builds from validated inputs) and returns a
    float tensor; the model computes in the dtype of its parameters (float32).
    """

    def __init__(self, module, n_iter, head=None, *, damping=1.0):
        super().__init__()
        self.module = module
        self.n_iter = int(n_iter)
        self.head = head if head is not None else nn.Identity()
        self.damping = float(damping)

    def forward(self, x):
        module = self.module
        if isinstance(module, FixedDepthModule):
            y = module(x)
        else:
            u = module.encode(x)
            z = module.init_state(u)
            for _ in range(self.n_iter):
                fz = module.step(z, u)
                z = fz if self.damping == 1.0 else z + self.damping * (fz - z)
            y = module.read(z, u)
        return self.head(y)

    def extra_repr(self):
        return f"n_iter={self.n_iter}, damping={self.damping:g}"


def default_head(estimator):
    """The export head of an estimator that formats with the base's ``_format_output``.

    Identity, or :class:`SingleOutput` when the estimator was fitted on a 1-D
    ``y``. Raises ``NotImplementedError`` for an estimator that changes the
    formatting (its own ``_format_output``) or predicts probabilities without
    its own ``_export_head``: a silent mismatch with ``predict`` would be worse.
    """
    from ._base import BaseImplicitEstimator

    own_format = type(estimator)._format_output is not BaseImplicitEstimator._format_output
    if own_format or hasattr(estimator, "predict_proba"):
        raise NotImplementedError(
            f"{type(estimator).__name__} formats its predictions itself and does not say how "
            "to do it on tensors: it must define _export_head() to be exported."
        )
    if getattr(estimator, "_y_ndim", 2) == 1:
        return SingleOutput()
    return None


def _picard_damping(estimator):
    """The damping of the estimator's Picard solver; None when it solves otherwise."""
    spec = estimator.solver
    if spec is picard or (isinstance(spec, str) and spec == "picard"):
        return float(estimator._routed_params().get("solver__damping", 1.0))
    return None


def export_estimator(estimator, n_iter, *, stacklevel=3):
    """Build the :class:`FixedBudgetModel` of a fitted estimator (see ``export``)."""
    head = estimator._export_head()
    module = estimator.net_.module_
    # torch.compile wraps the fitted module; export the module itself.
    module = getattr(module, "_orig_mod", module)
    module = copy.deepcopy(module).eval()
    for tensor in module.parameters():
        tensor.requires_grad_(False)
    damping = 1.0
    if not isinstance(module, FixedDepthModule):
        damping = _picard_damping(estimator)
        if damping is None:
            warnings.warn(
                f"The exported model applies plain Picard steps z = G(z, u), while "
                f"{type(estimator).__name__} solves with solver={estimator.solver!r}: it "
                f"matches predict(X, n_iter={n_iter}) only where both have converged. Fit "
                "with solver='picard' for an exact match at every budget.",
                UserWarning,
                stacklevel=stacklevel,
            )
            damping = 1.0
    return FixedBudgetModel(module, n_iter, head, damping=damping).eval()
