"""``ImplicitClassifier``: a learned operator G with a soft-max read-out for tabular classes."""

from __future__ import annotations

import numpy as np
import torch
from sklearn.base import ClassifierMixin, _fit_context
from sklearn.utils._param_validation import StrOptions
from sklearn.utils.multiclass import (
    _check_partial_fit_first_call,
    check_classification_targets,
    unique_labels,
)
from sklearn.utils.validation import validate_data
from torch import nn

from ._base import check_float32_range
from ._params import doc_fragments
from ._skorch import ImplicitNet
from ._tabular import BaseTabularImplicit

__all__ = ["ImplicitClassifier"]

#: Loss names of the classifier (scikit-learn's spelling).
_CLASSIFICATION_LOSSES = {"log_loss": nn.CrossEntropyLoss}


class ImplicitClassifier(ClassifierMixin, BaseTabularImplicit):
    """Implicit (deep-equilibrium) classifier: class logits from the fixed point of a learned G.

    The model is ``logits = Q_psi(z*)`` with ``z* = G(z*, Q_phi(x))`` and one
    logit per class of ``classes_``; probabilities are their soft-max.
    Training minimises the cross-entropy, solving for ``z*`` and
    differentiating through the solve with the chosen backward mode.
    Prediction iterates ``z_t = G(z_{{t-1}}, Q_phi(x))`` from ``z_0 = 0``, so
    the budget ``t`` is an argument of :meth:`predict`,
    :meth:`predict_proba`, :meth:`predict_log_proba` and
    :meth:`decision_function`.

    Parameters
    ----------
    operator : str, torch.nn.Module class or instance, or callable, default="mlp"
        The operator G with ``forward(z, u)``. A registry name
        (:data:`sklearn_implicit.operators.OPERATORS`), a module instance
        (deep-copied at fit) or a class/factory called with the
        ``operator__*`` parameters plus, when its signature accepts them,
        ``in_features`` (size of the encoded input) and ``n_outputs`` (the
        number of classes). The state shape is the operator's
        ``state_shape`` attribute, else the shape returned by its
        ``init_state(u)``, else ``(n_classes,)``.
    encoder : None, "linear", module or class, default=None
        ``Q_phi``; identity when None. Classes get ``in_features`` and
        ``out_features`` (default: n_features) when they accept them.
    decoder : None, "linear", module or class, default=None
        ``Q_psi``, the read-out of the logits; when None it is the identity
        if the state has shape ``(n_classes,)`` and a linear read-out
        otherwise.
    loss : {{"log_loss"}} or torch loss class, default="log_loss"
        Training loss: the cross-entropy of the soft-max. A class is
        instantiated with no argument (and with ``reduction="none"`` when
        ``sample_weight`` is given) and called with the logits and the class
        indices (positions in ``classes_``).
    {budget}
    {solver}
    {training}
    {controls}
    {runtime}
    compile : bool, default=False
        Compile the module with ``torch.compile`` for training (skorch's
        ``compile``; needs a C++ compiler on the CPU).
    {equilibrium}
    **kwargs
        Routed parameters ``operator__*``, ``encoder__*`` (only with an
        encoder), ``decoder__*`` (only with a decoder), ``optimizer__*``,
        ``solver__*`` and ``backward__*``; ``fit`` refuses anything else, and
        routed parameters that this configuration does not use.

    Attributes
    ----------
    classes_ : ndarray of shape (n_classes,)
        The class labels (sorted), in the order of the columns of
        :meth:`predict_proba`.
    net_ : skorch.NeuralNet
        The trained skorch net; ``net_.module_`` is the :class:`ImplicitModule`.
    n_features_in_ : int
        Number of features seen in fit.
    device_ : str
        Device the model lives on.
    loss_curve_ : list of float
        Training loss per epoch (accumulated over ``warm_start`` fits and
        ``partial_fit`` calls).
    n_epochs_ : int
        Epochs trained.
    validation_scores_ : list of float or None
        The held-out accuracy after every epoch (``early_stopping=True``).
    best_validation_score_ : float or None
        Their maximum; the model holds the weights of that epoch.

    See Also
    --------
    ImplicitRegressor : The same model for regression.
    sklearn.neural_network.MLPClassifier : An explicit network.

    Notes
    -----
    :meth:`lipschitz_curve` measures the map ``x -> p_t(x)`` from the
    inputs to the class probabilities after ``t`` applications of G: the
    distance between outputs is the Euclidean distance of the soft-max
    probabilities (at most ``sqrt(2)``), not of the logits.

    Examples
    --------
    >>> from sklearn.datasets import make_moons
    >>> from sklearn_implicit import ImplicitClassifier
    >>> X, y = make_moons(200, noise=0.1, random_state=0)
    >>> clf = ImplicitClassifier(max_epochs=100, random_state=0).fit(X, y)
    >>> clf.score(X, y) > 0.95
    True
    >>> clf.predict_proba(X[:2], n_iter=5).shape
    (2, 2)
    >>> clf.decision_function(X[:2]).shape
    (2,)
    """

    _parameter_constraints: dict = {
        **BaseTabularImplicit._parameter_constraints,
        "loss": [StrOptions(set(_CLASSIFICATION_LOSSES)), type],
    }

    _supports_sample_weight = True

    def __init__(
        self,
        operator="mlp",
        *,
        encoder=None,
        decoder=None,
        loss="log_loss",
        n_iter=30,
        tol=1e-4,
        solver="picard",
        backward="implicit",
        max_epochs=200,
        lr=1e-2,
        batch_size=128,
        optimizer="adam",
        device="auto",
        random_state=None,
        verbose=0,
        callbacks=None,
        early_stopping=False,
        validation_fraction=0.1,
        n_iter_no_change=10,
        warm_start=False,
        compile=False,
        jacobian_penalty=0.0,
        train_states=1,
        train_depth="fixed",
        **kwargs,
    ):
        self.loss = loss
        super().__init__(
            operator,
            encoder=encoder,
            decoder=decoder,
            n_iter=n_iter,
            tol=tol,
            solver=solver,
            backward=backward,
            max_epochs=max_epochs,
            lr=lr,
            batch_size=batch_size,
            optimizer=optimizer,
            device=device,
            random_state=random_state,
            verbose=verbose,
            callbacks=callbacks,
            early_stopping=early_stopping,
            validation_fraction=validation_fraction,
            n_iter_no_change=n_iter_no_change,
            warm_start=warm_start,
            compile=compile,
            jacobian_penalty=jacobian_penalty,
            train_states=train_states,
            train_depth=train_depth,
            **kwargs,
        )

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.target_tags.multi_output = False
        tags.classifier_tags.multi_class = True
        tags.classifier_tags.multi_label = False
        return tags

    # ------------------------------------------------------------------ fit
    @_fit_context(prefer_skip_nested_validation=True)
    def fit(self, X, y, sample_weight=None):
        """Train the model on ``(X, y)``.

        The classes are the labels of ``y``; with ``warm_start=True`` and a
        fitted model, training continues and ``y`` may only hold labels of
        ``classes_``.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Training inputs.
        y : array-like of shape (n_samples,)
            Class labels (numbers or strings).
        sample_weight : array-like of shape (n_samples,), optional
            Per-sample weights of the cross-entropy. A weight ``k`` trains
            exactly as ``k`` copies of the sample; ``np.ones(n)`` is exactly
            the unweighted fit.

        Returns
        -------
        self : object
            The fitted estimator.
        """
        with self._transaction():
            if not (self.warm_start and hasattr(self, "net_")):
                vars(self).pop("classes_", None)  # a new fit learns the classes of y
            self._fit(X, y, sample_weight)
        return self

    def partial_fit(self, X, y, classes=None, sample_weight=None):
        """Train for one more epoch on ``(X, y)`` (the first call starts from scratch).

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Training inputs.
        y : array-like of shape (n_samples,)
            Class labels, each in ``classes``.
        classes : array-like of shape (n_classes,), optional
            Every class of the problem. Required on the first call (unless the
            model was fitted by :meth:`fit`), since ``y`` need not hold every
            class; later calls may omit it, or must repeat it.
        sample_weight : array-like of shape (n_samples,), optional
            Per-sample weights (see :meth:`fit`).

        Returns
        -------
        self : object
        """
        self._validate_params()
        with self._transaction():
            _check_partial_fit_first_call(self, classes)
            self._fit(X, y, sample_weight, epochs=1)
        return self

    # ------------------------------------------------------------------ hooks
    def _validate_Xy(self, X, y):
        """Float ``X`` and the class indices of ``y`` (positions in ``classes_``)."""
        X, y = validate_data(self, X, y, dtype=[np.float32, np.float64])
        check_float32_range(X, "X")
        check_classification_targets(y)
        if getattr(self, "classes_", None) is None:
            self.classes_ = unique_labels(y)
        else:
            unseen = np.setdiff1d(unique_labels(y), self.classes_)
            if unseen.size:
                raise ValueError(
                    f"y holds the label(s) {unseen.tolist()} that are not among the classes "
                    f"{self.classes_.tolist()} of the model being continued; pass every class "
                    "to the first partial_fit (classes=...) or fit from scratch."
                )
        return X, np.searchsorted(self.classes_, y).astype(np.int64)

    def _validation_split(self, X, y, y2, sample_weight, seed):
        # The held-out targets are scored by ``score``: labels, not indices.
        *train, X_valid, y_valid = super()._validation_split(X, y, y2, sample_weight, seed)
        return (*train, X_valid, self.classes_[y_valid])

    def _n_module_outputs(self, y):
        """One logit per class."""
        return len(self.classes_)

    def _criterion(self):
        return _CLASSIFICATION_LOSSES.get(self.loss) if isinstance(self.loss, str) else self.loss

    def _weighted_loss_kwargs(self):
        return {"loss": self._criterion(), "target_dtype": torch.long, "squeeze": True}

    def _net_class(self):
        return ImplicitNet

    def _targets_for_training(self, y):
        return np.asarray(y[:, 0], dtype=np.int64)

    def _format_output(self, y, X=None):
        """Logits -> the label of the largest logit."""
        return self.classes_[y.argmax(dim=1).numpy()]

    def _export_head(self):
        """``export`` returns :meth:`predict_proba`'s probabilities (the soft-max of the logits)."""
        return nn.Softmax(dim=1)

    def _output_distance(self, y_perturbed, y_base):
        """Euclidean distance between the soft-max probabilities of the logits."""
        return super()._output_distance(
            torch.softmax(y_perturbed.double(), dim=-1), torch.softmax(y_base.double(), dim=-1)
        )

    # ------------------------------------------------------------------ inference
    def decision_function(self, X, n_iter=None, tol=None):
        """The logits after the budget (binary: one score per sample).

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Inputs.
        n_iter : int, optional
            Test-time budget (see :meth:`predict`).
        tol : float, optional
            Early-stopping tolerance (see :meth:`solve`).

        Returns
        -------
        scores : ndarray of shape (n_samples,) or (n_samples, n_classes)
            With two classes, the logit of ``classes_[1]`` minus that of
            ``classes_[0]`` (positive: ``classes_[1]`` is predicted);
            otherwise one logit per class of ``classes_``.
        """
        logits, _, _ = self._predict_raw(X, n_iter, tol)
        logits = logits.double().numpy()
        if logits.shape[1] == 2:
            return logits[:, 1] - logits[:, 0]
        return logits

    def predict_proba(self, X, n_iter=None, tol=None):
        """Class probabilities (the soft-max of the logits) after the budget.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Inputs.
        n_iter : int, optional
            Test-time budget (see :meth:`predict`).
        tol : float, optional
            Early-stopping tolerance (see :meth:`solve`).

        Returns
        -------
        proba : ndarray of shape (n_samples, n_classes)
            Probabilities over ``classes_``; rows sum to 1.
        """
        logits, _, _ = self._predict_raw(X, n_iter, tol)
        return torch.softmax(logits.double(), dim=1).numpy()

    def predict_log_proba(self, X, n_iter=None, tol=None):
        """Logarithm of :meth:`predict_proba` (computed stably from the logits).

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Inputs.
        n_iter : int, optional
            Test-time budget (see :meth:`predict`).
        tol : float, optional
            Early-stopping tolerance (see :meth:`solve`).

        Returns
        -------
        log_proba : ndarray of shape (n_samples, n_classes)
        """
        logits, _, _ = self._predict_raw(X, n_iter, tol)
        return torch.log_softmax(logits.double(), dim=1).numpy()


ImplicitClassifier.__doc__ = ImplicitClassifier.__doc__.format(
    equilibrium=doc_fragments["equilibrium"],
    budget=doc_fragments["budget"].format(n_iter=30, tol=1e-4),
    solver=doc_fragments["solver"].format(solver="picard", backward="implicit"),
    training=doc_fragments["training"].format(
        max_epochs=200, lr=1e-2, batch_size=128, optimizer="adam"
    ),
    controls=doc_fragments["controls"],
    runtime=doc_fragments["runtime"],
)
