import pytest

from sklearn_implicit.utils import torch_threads


@pytest.fixture(autouse=True)
def _one_torch_thread():
    # The LP models use many tiny tensors (see torch_threads).
    with torch_threads(1):
        yield
