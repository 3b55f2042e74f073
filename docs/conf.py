"""Sphinx configuration of the sklearn-implicit documentation."""

import os
import sys
import warnings
from pathlib import Path

HERE = Path(__file__).parent
sys.path.insert(0, str(HERE.parent))

import sklearn_implicit  # noqa: E402

project = "sklearn-implicit"
author = "sklearn-implicit developers"
copyright = "2026, sklearn-implicit developers"
release = sklearn_implicit.__version__
version = release

extensions = [
    "sphinx.ext.autodoc",
    "sphinx.ext.autosummary",
    "sphinx.ext.intersphinx",
    "sphinx.ext.mathjax",
    "sphinx.ext.viewcode",
    "numpydoc",
    "sphinx_gallery.gen_gallery",
]

templates_path = ["_templates"]
exclude_patterns = ["_build", "auto_examples/*.ipynb", "auto_examples/*.py", "**.zip"]
html_theme = "pydata_sphinx_theme"
html_static_path = ["_static"]
html_css_files = ["custom.css"]
html_title = "sklearn-implicit"
html_theme_options = {
    "navigation_with_keys": False,
    "show_toc_level": 2,
    "secondary_sidebar_items": ["page-toc"],
}
html_show_sourcelink = False

autosummary_generate = True
autodoc_default_options = {"members": True, "inherited-members": False}
autodoc_typehints = "none"
numpydoc_show_class_members = False
numpydoc_class_members_toctree = False
numpydoc_validation_checks = set()

# Intersphinx works offline: each project also lists an empty local inventory,
# so an unreachable site is an info message, not a warning. Online builds get
# the real cross-links.
_EMPTY = str(HERE / "_intersphinx" / "empty.inv")
intersphinx_mapping = {
    "python": ("https://docs.python.org/3", (None, _EMPTY)),
    "numpy": ("https://numpy.org/doc/stable", (None, _EMPTY)),
    "sklearn": ("https://scikit-learn.org/stable", (None, _EMPTY)),
    "torch": ("https://docs.pytorch.org/docs/stable", (None, _EMPTY)),
}
intersphinx_timeout = 5

sphinx_gallery_conf = {
    "examples_dirs": ["../examples"],
    "gallery_dirs": ["auto_examples"],
    "filename_pattern": r"/plot_",
    "within_subsection_order": "FileNameSortKey",
    "subsection_order": [
        "../examples/core",
        "../examples/theory",
        "../examples/lp",
        "../examples/imaging",
        "../examples/pde",
        "../examples/looped",
        "../examples/distributed",
    ],
    "download_all_examples": False,
    "backreferences_dir": "generated/backreferences",
    "doc_module": ("sklearn_implicit",),
    "reference_url": {"sklearn_implicit": None},
    "remove_config_comments": True,
    "abort_on_example_error": True,
    "plot_gallery": os.environ.get("SKLEARN_IMPLICIT_DOCS_PLOT", "True"),
    "matplotlib_animations": False,
    "show_memory": False,
}
# Only list gallery sections whose folder exists.
sphinx_gallery_conf["subsection_order"] = [
    p for p in sphinx_gallery_conf["subsection_order"] if (HERE / p).is_dir()
]

warnings.filterwarnings("ignore", category=UserWarning, message="Matplotlib is currently using agg")
os.environ.setdefault("MPLBACKEND", "agg")
