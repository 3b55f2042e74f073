"""A user-defined operator living outside the library, for pickling tests."""

from torch import nn


class HalfStepOperator(nn.Module):
    """G(y, x) = y / 2 + A x: its fixed point is 2 A x."""

    def __init__(self, in_features, n_outputs):
        super().__init__()
        self.lin = nn.Linear(in_features, n_outputs)

    def forward(self, y, x):
        return 0.5 * y + self.lin(x)
