"""scikit-learn's estimator checks, with no expected failures."""

from sklearn.utils.estimator_checks import parametrize_with_checks

from sksurgeon import SurgeonClassifier


def _small_budget():
    # float64 and selection on the (weighted) training data make the sample-weight
    # equivalence check exact up to rounding; the rest is a small budget for speed.
    return SurgeonClassifier(
        hidden_layer_sizes=(16,),
        max_iter=30,
        interval=10,
        learning_rate_init=0.01,
        retrain_batches=5,
        dtype="float64",
        remove_method="svd",
        validation_fraction=0.0,
    )


@parametrize_with_checks([_small_budget()])
def test_sklearn_compatible_estimator(estimator, check):
    check(estimator)
