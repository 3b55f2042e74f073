"""Equilibrium training: the recipes that keep a trained operator stable past its budget.

Three recipes, parameters of every estimator (``jacobian_penalty``,
``train_states``, ``train_depth``), all applied by the training forward pass
of :class:`~sklearn_implicit.ImplicitModule`:

- a **trajectory loss** (deep supervision, the fixed-point correction of Bai
  et al. 2022): the loss averages over ``train_states`` states of the training
  trajectory, evenly spaced and ending at the last one (:func:`spaced_depths`),
  so that every state along the way is pulled towards the answer and later
  iterates have no reason to drift away from it;
- a **Jacobian penalty** (Bai, Koltun, Kolter 2021): a Hutchinson estimate of
  ``||dG/dz||_F^2 / dim`` at the training state (:func:`jacobian_penalty`),
  which keeps ``G`` contractive around its equilibria;
- a **random training depth** (Huginn, Geiping et al. 2025): the depth of
  every mini-batch is drawn from a Poisson log-normal with mean ``n_iter``
  (:func:`random_depth`), so that the model cannot specialise to one budget.

The training forward pass returns a :class:`TrainingOutput` when a recipe is
active; the skorch nets (:class:`EquilibriumLossMixin`) turn it into one loss.
"""

from __future__ import annotations

import torch

from .backward import sample_depth

__all__ = [
    "EquilibriumLossMixin",
    "TrainingOutput",
    "jacobian_penalty",
    "random_depth",
    "spaced_depths",
]


def spaced_depths(n_iter, n_states):
    """Depths of ``n_states`` states evenly spaced over ``1..n_iter``, ending at ``n_iter``.

    Depths are rounded to integers and repeated ones dropped, so at most
    ``n_iter`` distinct depths come back.

    Examples
    --------
    >>> from sklearn_implicit._equilibrium import spaced_depths
    >>> spaced_depths(10, 3)
    (3, 7, 10)
    >>> spaced_depths(4, 8)
    (1, 2, 3, 4)
    """
    n_iter, n_states = int(n_iter), int(n_states)
    if n_iter < 1 or n_states < 1:
        raise ValueError(
            f"spaced_depths needs n_iter >= 1 and n_states >= 1, got {n_iter} and {n_states}."
        )
    depths = {max(1, round(n_iter * i / n_states)) for i in range(1, n_states + 1)}
    return tuple(sorted(depths))


def random_depth(mean, generator=None):
    """A training depth with mean ``mean``: ``Poisson(LogNormal) + 1`` (Huginn's sampler).

    :func:`~sklearn_implicit.backward.sample_depth` draws ``r`` with
    ``E[r] = m + 1`` for a Poisson rate of mean ``m``; here ``m = mean - 1``
    so that ``E[r] = mean``. A mean of 1 gives depth 1.
    """
    if mean <= 1:
        return 1
    return sample_depth(float(mean) - 1.0, generator=generator)


def jacobian_penalty(f, z):
    """Hutchinson estimate of ``||df/dz||_F^2 / dim`` at ``z``, averaged over the batch.

    With ``v ~ N(0, I)``, ``E ||v^T J||^2 = ||J||_F^2``; one probe per sample,
    divided by the state's size, gives a differentiable estimate of the mean
    squared singular value of the Jacobian (Bai, Koltun, Kolter 2021). The
    state is detached: the penalty shapes ``f``, not the path to ``z``.

    Parameters
    ----------
    f : callable
        ``z -> G(z)`` (closing over the injected input).
    z : torch.Tensor
        States, batch first.

    Returns
    -------
    torch.Tensor
        A scalar with an autograd graph to ``f``'s parameters.
    """
    z = z.detach().requires_grad_()
    with torch.enable_grad():
        fz = f(z)
        v = torch.randn_like(fz)
        (vjp,) = torch.autograd.grad(fz, z, v, create_graph=True)
    return vjp.pow(2).sum() / max(1, z.numel())


class TrainingOutput:
    """What a training forward pass returns when an equilibrium recipe is active.

    Parameters
    ----------
    outputs : list of torch.Tensor
        Read-outs of the supervised states, shallowest first (the last one is
        the answer at the training depth).
    penalty : torch.Tensor or None
        The weighted Jacobian penalty to add to the loss.
    """

    def __init__(self, outputs, penalty=None):
        self.outputs = list(outputs)
        self.penalty = penalty

    def __repr__(self):
        return f"TrainingOutput(n_states={len(self.outputs)}, penalty={self.penalty!r})"


class EquilibriumLossMixin:
    """skorch net mixin: the loss of a :class:`TrainingOutput`.

    The criterion is applied to every supervised state's read-out and the
    losses are averaged; the Jacobian penalty is added. Any other output goes
    to the criterion unchanged. ``train_loss`` in the history is this total.
    """

    def get_loss(self, y_pred, y_true, X=None, training=False):
        if not isinstance(y_pred, TrainingOutput):
            return super().get_loss(y_pred, y_true, X=X, training=training)
        losses = [
            super(EquilibriumLossMixin, self).get_loss(y, y_true, X=X, training=training)
            for y in y_pred.outputs
        ]
        loss = losses[0] if len(losses) == 1 else torch.stack(losses).mean()
        if y_pred.penalty is not None:
            loss = loss + y_pred.penalty
        return loss
