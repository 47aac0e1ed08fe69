"""Dask through joblib: same model as n_jobs=1, data scattered once per fit."""

import numpy as np
import pytest
import torch
from sklearn.datasets import load_digits
from sklearn.model_selection import GridSearchCV

from sksurgeon import SurgeonClassifier
from sksurgeon._surgeon import TrainingData

distributed = pytest.importorskip("distributed", reason="needs dask.distributed (test extra)")
joblib = pytest.importorskip("joblib")


@pytest.fixture(scope="module")
def client():
    cluster = distributed.LocalCluster(
        n_workers=2,
        threads_per_worker=1,
        processes=True,
        host="127.0.0.1",
        dashboard_address=None,
    )
    with distributed.Client(cluster) as c:
        yield c
    cluster.close()


@pytest.fixture(scope="module")
def digits():
    X, y = load_digits(return_X_y=True)
    return X[:600] / 16.0, y[:600]


# max_params=None: a search that grows has more candidates, hence more tasks to ship;
# max_cost=None: on 540 samples the candidates' epochs would end it after one decision point.
KW = dict(
    hidden_layer_sizes=(12,),
    max_iter=30,
    random_state=3,
    learning_rate_init=0.01,
    max_params=None,
    max_cost=None,
)


def test_same_model_as_sequential(client, digits):
    X, y = digits
    ref = SurgeonClassifier(n_jobs=1, **KW).fit(X, y)
    with joblib.parallel_config(backend="dask"):
        dist = SurgeonClassifier(**KW).fit(X, y)
    assert dist.hidden_layer_sizes_ == ref.hidden_layer_sizes_
    for a, b in zip(
        ref.module_.state_dict().values(), dist.module_.state_dict().values(), strict=True
    ):
        assert torch.equal(a, b)
    np.testing.assert_array_equal(ref.predict_proba(X), dist.predict_proba(X))


def test_training_data_sent_once_per_fit(client, digits, monkeypatch):
    X, y = digits
    pickled = []

    def counting_getstate(self):
        pickled.append(self.token)
        return self.__dict__

    monkeypatch.setattr(TrainingData, "__getstate__", counting_getstate, raising=False)
    with joblib.parallel_config(backend="dask"):
        clf = SurgeonClassifier(**KW).fit(X, y)
    n_tasks = sum(1 for _ in clf.surgery_log_)  # at least one task per candidate
    assert n_tasks > 5
    assert len(pickled) == 1  # scattered once, not once per task


def test_grid_search_on_dask(client, digits):
    X, y = digits
    grid = GridSearchCV(
        SurgeonClassifier(**{**KW, "max_iter": 20}),
        {"hidden_layer_sizes": [(8,), (16,)]},
        cv=2,
    )
    with joblib.parallel_config(backend="dask"):
        grid.fit(X, y)
    assert grid.best_score_ > 0.7
