"""Test-session settings shared by tests/ and the doctests in sklearn_implicit/."""

import os

import matplotlib

matplotlib.use("Agg")

import torch

# pytest-xdist runs one process per core: one intra-op thread each avoids
# oversubscription, which slows small torch ops down by orders of magnitude.
if os.environ.get("PYTEST_XDIST_WORKER"):
    torch.set_num_threads(1)
