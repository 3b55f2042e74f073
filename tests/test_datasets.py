"""sklearn_implicit.datasets: a re-export of the domains' public generators, nothing more."""

import ast
import importlib
import inspect

import pytest

import sklearn_implicit.datasets as datasets
from sklearn_implicit._cache import get_data_home

DOMAINS = {
    "make_blurred_images": "sklearn_implicit.imaging",
    "make_linear_programs": "sklearn_implicit.lp",
    "make_navier_stokes": "sklearn_implicit.pde",
    "make_pointer_chasing": "sklearn_implicit.looped",
}


@pytest.mark.parametrize("name", sorted(DOMAINS))
def test_generators_are_the_domains_public_ones(name):
    domain = importlib.import_module(DOMAINS[name])
    assert name in domain.__all__
    assert getattr(datasets, name) is getattr(domain, name)
    assert name in datasets.__all__ and name in dir(datasets)


def test_get_data_home_is_reexported():
    assert datasets.get_data_home is get_data_home


def test_no_private_domain_import():
    # Dependencies point down: datasets/ names domains only by their public packages.
    tree = ast.parse(inspect.getsource(datasets))
    names = [n.module or "" for n in ast.walk(tree) if isinstance(n, ast.ImportFrom)]
    names += [a.name for n in ast.walk(tree) if isinstance(n, ast.Import) for a in n.names]
    names += [n.value for n in ast.walk(tree) if isinstance(n, ast.Constant)]
    for domain in set(DOMAINS.values()):
        assert not any(isinstance(s, str) and s.startswith(domain + "._") for s in names)


def test_unknown_attribute():
    with pytest.raises(AttributeError, match="make_nothing"):
        datasets.make_nothing
