"""A scoped torch intra-op thread count."""

from __future__ import annotations

from contextlib import contextmanager

import torch

__all__ = ["torch_threads"]


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
    >>> from sklearn_implicit._threads import torch_threads
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
