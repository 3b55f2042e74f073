"""A loopback Dask cluster for tests, examples and laptops."""

from __future__ import annotations

import contextlib

__all__ = ["local_cluster"]


@contextlib.contextmanager
def local_cluster(n_workers=2, threads_per_worker=1, processes=True):
    """Start a ``distributed.LocalCluster`` on 127.0.0.1 and a client; stop both on exit.

    Inside the ``with`` block joblib's ``"dask"`` backend is active, so
    scikit-learn searches with ``n_jobs=-1`` run their fits on the cluster.

    Parameters
    ----------
    n_workers : int, default=2
        Worker processes.
    threads_per_worker : int, default=1
        Threads per worker (torch also uses this many intra-op threads there).
    processes : bool, default=True
        Separate worker processes (True) or threads of this process.

    Yields
    ------
    client : distributed.Client
    """
    try:
        import joblib
        from dask.distributed import Client, LocalCluster
    except ImportError as exc:  # pragma: no cover - depends on the environment
        raise ImportError(
            "local_cluster needs dask[distributed]: pip install 'sklearn-implicit[distributed]'."
        ) from exc

    cluster = LocalCluster(
        n_workers=n_workers,
        threads_per_worker=threads_per_worker,
        processes=processes,
        protocol="tcp://",
        host="127.0.0.1",
        dashboard_address=None,
        worker_dashboard_address=None,
    )
    client = Client(cluster)
    try:
        if processes:
            client.run(_limit_threads, threads_per_worker)
        with joblib.parallel_backend("dask"):
            yield client
    finally:
        client.close()
        cluster.close()


def _limit_threads(n):
    import torch

    torch.set_num_threads(n)
