"""Small helpers shared across the package: scoped thread counts, option checks."""

from __future__ import annotations

import inspect
from contextlib import contextmanager

import torch

__all__ = ["check_options", "torch_threads"]


@contextmanager
def torch_threads(n):
    """Run a block with ``n`` torch intra-op threads, then restore the previous count.

    The small models of the demos and tests (tiny batched matrix products,
    many small tensors) run fastest on one thread: extra intra-op threads
    mostly add synchronisation, and stall badly on a shared CPU.

    Parameters
    ----------
    n : int
        Number of threads inside the block.

    Examples
    --------
    >>> import torch
    >>> from sklearn_implicit.utils import torch_threads
    >>> before = torch.get_num_threads()
    >>> with torch_threads(1):
    ...     torch.get_num_threads()
    1
    >>> torch.get_num_threads() == before
    True
    """
    previous = torch.get_num_threads()
    torch.set_num_threads(n)
    try:
        yield
    finally:
        torch.set_num_threads(previous)


def check_options(factory, options, what):
    """Refuse keyword options that ``factory`` does not accept, naming them.

    Routed parameters (``solver__m=3``, ``backward__k=2``, ``operator__width=8``)
    reach a callable as keyword arguments. A typo must fail with a sentence
    that names it, before anything is built or trained, instead of being
    ignored or surfacing as a ``TypeError`` from deep inside the call.

    Parameters
    ----------
    factory : callable
        The function or class the options are for.
    options : dict
        Keyword options.
    what : str
        How to name the target in the message (e.g. ``"solver 'picard'"``).

    Raises
    ------
    ValueError
        If an option is not a parameter of ``factory`` (callables taking
        ``**kwargs`` accept everything).

    Examples
    --------
    >>> from sklearn_implicit.utils import check_options
    >>> def picard(f, z0, *, max_iter, tol, damping=1.0): ...
    >>> check_options(picard, {"damping": 0.5}, "solver 'picard'")
    >>> check_options(picard, {"m": 3}, "solver 'picard'")
    Traceback (most recent call last):
    ...
    ValueError: Unknown option(s) ['m'] for solver 'picard'; it accepts ['damping'].
    """
    if not options:
        return
    try:
        params = inspect.signature(factory).parameters
    except (TypeError, ValueError):  # builtins without a signature: let the call decide
        return
    if any(p.kind == p.VAR_KEYWORD for p in params.values()):
        return
    accepted = {
        name
        for name, p in params.items()
        if p.kind in (p.KEYWORD_ONLY, p.POSITIONAL_OR_KEYWORD) and p.default is not p.empty
    }
    named = {
        name for name, p in params.items() if p.kind in (p.KEYWORD_ONLY, p.POSITIONAL_OR_KEYWORD)
    }
    unknown = sorted(set(options) - named)
    if unknown:
        raise ValueError(f"Unknown option(s) {unknown} for {what}; it accepts {sorted(accepted)}.")
