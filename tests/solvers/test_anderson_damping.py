"""``damping`` is the one name of the mixing option in every solver."""

import pytest
import torch

from sklearn_implicit.solvers import anderson, picard


@pytest.mark.parametrize("solver", [picard, anderson])
def test_every_solver_takes_damping(solver):
    A = 0.5 * torch.eye(3)
    z, info = solver(lambda z: z @ A + 1.0, torch.zeros(2, 3), max_iter=200, tol=1e-6, damping=0.5)
    torch.testing.assert_close(z, torch.full((2, 3), 2.0), atol=1e-4, rtol=0)
    assert info.converged.all()
    with pytest.raises(ValueError, match="damping"):
        solver(lambda z: z, torch.zeros(1, 1), max_iter=1, tol=0.0, damping=0.0)


def test_anderson_beta_is_a_deprecated_alias():
    f = lambda z: 0.5 * z + 1.0  # noqa: E731
    with pytest.warns(FutureWarning, match="renamed damping"):
        old, _ = anderson(f, torch.zeros(1, 2), max_iter=5, tol=0.0, beta=0.7)
    new, _ = anderson(f, torch.zeros(1, 2), max_iter=5, tol=0.0, damping=0.7)
    torch.testing.assert_close(old, new)
