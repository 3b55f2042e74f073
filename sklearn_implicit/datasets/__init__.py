"""Data generators for the paper's four cases, in scikit-learn's ``make_*`` style.

Each generator lives with its domain (``sklearn_implicit.<domain>._data``) and is
re-exported here from the domain's public namespace on first access, so that
``import sklearn_implicit.datasets`` imports no domain.

Every generator is deterministic per ``random_state`` and needs no download;
expensive ones cache their output under :func:`get_data_home`.
"""

from __future__ import annotations

import importlib
import importlib.util

from .._cache import get_data_home

#: Public name -> the domain package that defines it.
_LAZY = {
    "make_blurred_images": "sklearn_implicit.imaging",
    "make_linear_programs": "sklearn_implicit.lp",
    "make_navier_stokes": "sklearn_implicit.pde",
    "make_pointer_chasing": "sklearn_implicit.looped",
}


def _available(name):
    return importlib.util.find_spec(_LAZY[name]) is not None


__all__ = ["get_data_home", *sorted(k for k in _LAZY if _available(k))]


def __getattr__(name):
    if name in _LAZY and _available(name):
        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__():
    return sorted(__all__)
