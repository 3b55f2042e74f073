import pytest
import torch


@pytest.fixture(autouse=True)
def _one_torch_thread():
    # Tiny transformers: extra intra-op threads only add synchronisation.
    n = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(n)
