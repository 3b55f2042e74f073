"""The on-disk cache of generated data sets: where it lives, and atomic reads and writes.

A cache entry is one ``.npz`` file per generator call (:func:`cache_path`).
:func:`save_cache` writes it to a temporary file in the same folder and renames it
into place, so an interrupted write never leaves a truncated entry;
:func:`load_cache` treats an entry it cannot read as missing (with a warning that
names the file), so the generator computes the data again and overwrites it.
"""

from __future__ import annotations

import hashlib
import json
import os
import uuid
import warnings
from pathlib import Path

import numpy as np

__all__ = ["cache_path", "get_data_home", "load_cache", "save_cache"]


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

    Examples
    --------
    >>> import tempfile
    >>> from sklearn_implicit.datasets import get_data_home
    >>> with tempfile.TemporaryDirectory() as folder:
    ...     get_data_home(folder).is_dir()
    True
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

    Parameters
    ----------
    name : str
        Generator name, the prefix of the file name.
    params : dict
        The arguments that determine the data (JSON-serialisable, or with a
        ``str`` that identifies them).
    data_home : str or path-like, optional
        Cache folder (default: :func:`get_data_home`).
    suffix : str, default=".npz"
        File extension.

    Returns
    -------
    pathlib.Path
    """
    key = json.dumps(params, sort_keys=True, default=str)
    digest = hashlib.sha1(key.encode()).hexdigest()[:16]
    return get_data_home(data_home) / f"{name}-{digest}{suffix}"


def load_cache(path, read):
    """Read a cache entry, or ``None`` when it is missing or cannot be read.

    Parameters
    ----------
    path : pathlib.Path
        The entry (an ``.npz`` file written by :func:`save_cache`).
    read : callable
        ``read(npz) -> value`` builds the generator's output from the open
        :class:`numpy.lib.npyio.NpzFile`; it runs while the file is open.

    Returns
    -------
    value or None
        ``None`` when ``path`` does not exist, or when opening or reading it
        raises: the entry is corrupt (truncated, not a zip archive, a missing
        or damaged array), a :class:`UserWarning` names it, and the caller is
        expected to generate the data again and :func:`save_cache` over it.

    Examples
    --------
    >>> import tempfile, warnings
    >>> from pathlib import Path
    >>> import numpy as np
    >>> with tempfile.TemporaryDirectory() as folder:
    ...     path = Path(folder) / "entry.npz"
    ...     save_cache(path, x=np.arange(3))
    ...     print(load_cache(path, lambda f: f["x"]))
    ...     _ = path.write_bytes(b"not a zip file")
    ...     with warnings.catch_warnings(record=True) as caught:
    ...         warnings.simplefilter("always")
    ...         print(load_cache(path, lambda f: f["x"]), "entry.npz" in str(caught[0].message))
    [0 1 2]
    None True
    """
    path = Path(path)
    if not path.exists():
        return None
    try:
        with np.load(path, allow_pickle=False) as npz:
            return read(npz)
    # Whatever a damaged file raises (BadZipFile, EOFError, OSError, ValueError,
    # KeyError, zlib.error, ...), the remedy is the same: compute the data again.
    except Exception as exc:
        warnings.warn(
            f"The cached data set {str(path)!r} could not be read ({type(exc).__name__}: "
            f"{exc}); generating it again and overwriting the file.",
            UserWarning,
            stacklevel=3,
        )
        return None


def save_cache(path, **arrays):
    """Write ``arrays`` to the ``.npz`` cache entry ``path``, atomically.

    The arrays are written (compressed) to a temporary file in the same
    folder, which then replaces ``path`` with :func:`os.replace`; readers see
    either the old entry or the complete new one, never a partial file. If the
    write fails, the temporary file is removed and the error propagates.

    Parameters
    ----------
    path : pathlib.Path
        The entry.
    **arrays : array-like
        Named arrays, as for :func:`numpy.savez_compressed`.
    """
    path = Path(path)
    tmp = path.with_name(f".{path.name}.{uuid.uuid4().hex}.tmp")
    try:
        with open(tmp, "xb") as f:
            np.savez_compressed(f, **arrays)
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
