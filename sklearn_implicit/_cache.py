"""Where generated data sets are cached."""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path

__all__ = ["cache_path", "get_data_home"]


def get_data_home(data_home=None):
    """Folder of the on-disk cache of generated data sets.

    Follows scikit-learn's convention: ``data_home`` if given, else the
    ``SKLEARN_IMPLICIT_DATA`` environment variable, else
    ``~/sklearn_implicit_data``. The folder is created if missing.

    Parameters
    ----------
    data_home : str or path-like, optional
        Explicit folder.

    Returns
    -------
    pathlib.Path
    """
    if data_home is None:
        data_home = os.environ.get("SKLEARN_IMPLICIT_DATA", Path.home() / "sklearn_implicit_data")
    path = Path(data_home).expanduser()
    path.mkdir(parents=True, exist_ok=True)
    return path


def cache_path(name, params, data_home=None, suffix=".npz"):
    """Path of the cache file of generator ``name`` called with ``params``.

    The file name carries a hash of the (JSON-serialised, sorted) parameters,
    so every distinct call has its own file.
    """
    key = json.dumps(params, sort_keys=True, default=str)
    digest = hashlib.sha1(key.encode()).hexdigest()[:16]
    return get_data_home(data_home) / f"{name}-{digest}{suffix}"
