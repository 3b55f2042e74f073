"""Looped transformers: a recurrent-depth model whose loop count is a knob of ``predict``.

The paper's language-model case at laptop scale: :class:`LoopedTransformerClassifier`
(prelude -> one shared block with input injection, iterated ``t`` times -> coda,
trained with randomized recurrence depth and truncated backpropagation; with
``architecture="explicit"`` the same block stacked untied). :func:`levenshtein` and
:func:`levenshtein_rows` compute the edit distance behind the paper's Levenshtein
"Lipschitz" measure (:meth:`LoopedTransformerClassifier.lipschitz_curve`);
:func:`sklearn_implicit.datasets.make_pointer_chasing` generates a reasoning task
where deeper instances need more loops.
"""

from ._data import make_pointer_chasing
from ._estimator import LoopedTransformerClassifier
from ._levenshtein import levenshtein, levenshtein_rows
from ._metrics import TokenCrossEntropy, sequence_accuracy, token_accuracy
from ._model import (
    Block,
    Coda,
    Encoded,
    PointerCoda,
    PointerPrelude,
    Prelude,
    RecurrentCore,
    node_codes,
    transformer_parts,
)

__all__ = [
    "Block",
    "Coda",
    "Encoded",
    "LoopedTransformerClassifier",
    "PointerCoda",
    "PointerPrelude",
    "Prelude",
    "RecurrentCore",
    "TokenCrossEntropy",
    "levenshtein",
    "levenshtein_rows",
    "make_pointer_chasing",
    "node_codes",
    "sequence_accuracy",
    "token_accuracy",
    "transformer_parts",
]
