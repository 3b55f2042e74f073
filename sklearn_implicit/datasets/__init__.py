"""Data generators for the paper's four cases, in scikit-learn's ``make_*`` style.

Every generator is deterministic per ``random_state`` and needs no download;
expensive ones cache their output under :func:`get_data_home`.
"""

from __future__ import annotations

import importlib
import importlib.util

from ._base import get_data_home

_LAZY = {
    "make_linear_programs": "._lp",
    "make_blurred_images": "._images",
    "make_navier_stokes": "._navier_stokes",
    "make_pointer_chasing": "._pointer_chasing",
}


def _available(name):
    return importlib.util.find_spec(_LAZY[name], __name__) is not None


__all__ = ["get_data_home", *sorted(k for k in _LAZY if _available(k))]


def __getattr__(name):
    if name in _LAZY and _available(name):
        return getattr(importlib.import_module(_LAZY[name], __name__), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__():
    return sorted(__all__)
