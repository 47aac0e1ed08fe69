"""
=====================================================
In a Pipeline, tuned by GridSearchCV, on a DataFrame
=====================================================

:class:`~sksurgeon.SurgeonClassifier` is an ordinary scikit-learn classifier: it takes a
pandas DataFrame (and remembers ``feature_names_in_``), string labels, and works inside a
:class:`~sklearn.pipeline.Pipeline` and a :class:`~sklearn.model_selection.GridSearchCV`.
Here the grid tunes the size weight of the score (Eq. 16) on the wine data.
"""

# %%
import os

import matplotlib.pyplot as plt
from sklearn.datasets import load_wine
from sklearn.model_selection import GridSearchCV, train_test_split
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from sksurgeon import SurgeonClassifier
from sksurgeon.plotting import plot_surgery_history

FAST = os.environ.get("SKSURGEON_EXAMPLE_FAST", "0") not in ("", "0")
max_iter, interval = (8, 4) if FAST else (60, 10)

wine = load_wine(as_frame=True)
df = wine.frame
df["cultivar"] = wine.target_names[wine.target]  # string labels: 'class_0', ...
features = wine.feature_names
print(df[features + ["cultivar"]].head())

train, test = train_test_split(df, random_state=0, stratify=df["cultivar"])

# %%
# The grid search
# ---------------
# Every fit of the search is a full Surgeon run; ``n_jobs`` of the search and of the
# estimator both use joblib, so parallelise one of them only.
# ``set_output`` keeps the scaled data a DataFrame, so the classifier sees the column names.
pipe = make_pipeline(
    StandardScaler().set_output(transform="pandas"),
    SurgeonClassifier(
        hidden_layer_sizes=(4,),
        max_iter=max_iter,
        interval=interval,
        batch_size=32,
        random_state=0,
    ),
)
grid = GridSearchCV(
    pipe,
    {"surgeonclassifier__size_weight": [0.03, 0.3] if FAST else [0.03, 0.1, 0.3, 1.0]},
    cv=3,
)
grid.fit(train[features], train["cultivar"])
print("best parameters:", grid.best_params_)
print(f"test accuracy: {grid.score(test[features], test['cultivar']):.3f}")

best = grid.best_estimator_[-1]
print("classes:", best.classes_)
print("features seen:", list(best.feature_names_in_[:3]), "...")
print("final topology:", best.hidden_layer_sizes_)
print(grid.predict(test[features].head()))

# %%
# The plotting functions accept the search (they use its ``best_estimator_``) or the
# pipeline directly.
axes = plot_surgery_history(grid)
plt.show()
