"""scikit-learn's own estimator checks: every one must pass, none is expected to fail."""

import pytest
from sklearn.utils.estimator_checks import parametrize_with_checks

from sklearn_implicit import ImplicitClassifier, ImplicitRegressor


@pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")
@parametrize_with_checks([ImplicitRegressor(), ImplicitClassifier()])
def test_sklearn_compatible_estimator(estimator, check):
    check(estimator)
