import pytest
import torch


@pytest.fixture(autouse=True)
def _one_torch_thread():
    # The LP models use many tiny tensors: intra-op threads only add
    # synchronisation (and stall badly on a shared CPU).
    n = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(n)
