import pytest

from sklearn_implicit.utils import torch_threads


@pytest.fixture(autouse=True)
def _one_torch_thread():
    # Tiny transformers: extra intra-op threads only add synchronisation.
    with torch_threads(1):
        yield
