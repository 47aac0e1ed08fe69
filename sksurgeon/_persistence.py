"""Saving and loading fitted models without pickle.

A model file is what ``torch.save`` writes for a dict of plain data: a JSON string (parameters,
labels, topology, training history) and the network's tensors. It is read back with
``torch.load(weights_only=True)``, which refuses anything but tensors and primitive
containers, so opening a shared model file cannot run code (pickle can).
"""

from __future__ import annotations

import json

import numpy as np
import torch
from torch import nn

from ._version import __version__

FORMAT = "sksurgeon-model"
FORMAT_VERSION = 1


def _encode(obj):
    """JSON-ready copy of ``obj``; dicts keep non-string keys as ``[key, value]`` pairs."""
    if isinstance(obj, dict):
        return {"__pairs__": [[_encode(k), _encode(v)] for k, v in obj.items()]}
    if isinstance(obj, (list, tuple)):
        return [_encode(v) for v in obj]
    if isinstance(obj, np.ndarray):
        return [_encode(v) for v in obj.tolist()]
    if isinstance(obj, np.generic):
        return obj.item()
    if isinstance(obj, torch.device):
        return str(obj)
    if obj is None or isinstance(obj, (bool, int, str)):
        return obj
    if isinstance(obj, float):
        return obj
    if isinstance(obj, np.random.RandomState):
        return None
    raise TypeError(f"cannot store a value of type {type(obj).__name__} in a model file")


def _decode(obj):
    if isinstance(obj, dict):
        if set(obj) == {"__pairs__"}:
            return {_hashable(_decode(k)): _decode(v) for k, v in obj["__pairs__"]}
        return {k: _decode(v) for k, v in obj.items()}
    if isinstance(obj, list):
        return [_decode(v) for v in obj]
    return obj


def _hashable(value):
    return tuple(value) if isinstance(value, list) else value


def _topology(net):
    spec = []
    for m in net:
        if isinstance(m, nn.Linear):
            spec.append(
                {
                    "type": "linear",
                    "in": m.in_features,
                    "out": m.out_features,
                    "bias": m.bias is not None,
                }
            )
        elif isinstance(m, nn.LeakyReLU):
            spec.append({"type": "leaky_relu", "negative_slope": m.negative_slope})
        elif isinstance(m, nn.ReLU):
            spec.append({"type": "relu"})
        elif isinstance(m, nn.Tanh):
            spec.append({"type": "tanh"})
        elif isinstance(m, nn.Identity):
            spec.append({"type": "identity"})
        else:
            raise TypeError(f"cannot store module {m!r}")
    return spec


def _build(spec, dtype):
    modules = []
    for layer in spec:
        kind = layer["type"]
        if kind == "linear":
            modules.append(
                nn.Linear(
                    int(layer["in"]), int(layer["out"]), bias=bool(layer["bias"]), dtype=dtype
                )
            )
        elif kind == "leaky_relu":
            modules.append(nn.LeakyReLU(float(layer["negative_slope"])))
        elif kind in ("relu", "tanh", "identity"):
            modules.append({"relu": nn.ReLU, "tanh": nn.Tanh, "identity": nn.Identity}[kind]())
        else:
            raise ValueError(f"unknown layer type {kind!r}")
    return nn.Sequential(*modules)


_FITTED = (
    "n_features_in_",
    "n_iter_",
    "best_validation_score_",
    "epochs_trained_",
    "fit_time_",
    "stop_reason_",
    "history_",
    "surgery_log_",
    "decisions_",
    "refit_",
    "max_cost_",
)
#: Fitted attributes newer than format version 1's first files: what their absence means,
#: from the estimator loaded (files from before ``max_cost='auto'`` ran under the parameter).
_ADDED_LATER = {"refit_": lambda est: None, "max_cost_": lambda est: est.max_cost}
#: Parameters newer than the first files, with the value that reproduces how those were fit.
_PARAMS_ADDED_LATER = {"max_cost": None, "average": False}


def save(estimator, path):
    """Write a fitted :class:`~sksurgeon.SurgeonClassifier` to ``path``.

    The file holds no pickled objects; :func:`load` reads it with
    ``torch.load(weights_only=True)``.

    Parameters
    ----------
    estimator : SurgeonClassifier
        A fitted estimator.
    path : str or path-like

    Examples
    --------
    >>> from sklearn.datasets import load_iris
    >>> from sksurgeon import SurgeonClassifier, save, load
    >>> X, y = load_iris(return_X_y=True)
    >>> clf = SurgeonClassifier((8,), max_iter=5, random_state=0).fit(X, y)
    >>> import os, tempfile
    >>> path = os.path.join(tempfile.mkdtemp(), "model.sks")
    >>> save(clf, path)
    >>> bool((load(path).predict(X) == clf.predict(X)).all())
    True
    """
    from sklearn.utils.validation import check_is_fitted

    check_is_fitted(estimator)
    classes = np.asarray(estimator.classes_)
    if classes.dtype == object and not all(isinstance(c, str) for c in classes):
        raise TypeError("only numeric, boolean or string class labels can be saved")
    params = estimator.get_params(deep=False)
    meta = {
        "estimator": type(estimator).__name__,
        "sksurgeon_version": __version__,
        "params": _encode(params),
        "classes": {"dtype": classes.dtype.str, "values": _encode(classes)},
        "feature_names_in": _encode(getattr(estimator, "feature_names_in_", None)),
        "topology": _topology(estimator.module_),
        "dtype": str(next(estimator.module_.parameters()).dtype).replace("torch.", ""),
        "fitted": {k: _encode(getattr(estimator, k)) for k in _FITTED},
    }
    tensors = {k: v.detach().cpu().clone() for k, v in estimator.module_.state_dict().items()}
    payload = {
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "meta": json.dumps(meta, allow_nan=True),
        "tensors": tensors,
    }
    torch.save(payload, path)


def load(path):
    """Read a model written by :func:`save`; the network is placed on the CPU.

    Parameters
    ----------
    path : str or path-like

    Returns
    -------
    estimator : SurgeonClassifier

    Raises
    ------
    ValueError
        When the file is not a sksurgeon model file, is damaged, or was modified so that it
        holds anything but data.
    """
    from ._classifier import SurgeonClassifier

    try:
        payload = torch.load(path, map_location="cpu", weights_only=True)
    except FileNotFoundError:
        raise
    except Exception as exc:
        raise ValueError(
            f"{path!s} is not a readable sksurgeon model file (it may be damaged, or hold "
            f"objects other than data, which are refused): {exc}"
        ) from exc
    if not isinstance(payload, dict) or payload.get("format") != FORMAT:
        raise ValueError(f"{path!s} is not a sksurgeon model file")
    if payload.get("format_version") != FORMAT_VERSION:
        raise ValueError(
            f"{path!s} has format version {payload.get('format_version')!r}; this sksurgeon "
            f"reads version {FORMAT_VERSION}"
        )
    try:
        meta = json.loads(payload["meta"])
        params = {**_PARAMS_ADDED_LATER, **_decode(meta["params"])}
        if params.get("hidden_layer_sizes") is not None and isinstance(
            params["hidden_layer_sizes"], list
        ):
            params["hidden_layer_sizes"] = tuple(params["hidden_layer_sizes"])
        est = SurgeonClassifier(**params)
        dtype = {"float32": torch.float32, "float64": torch.float64}[meta["dtype"]]
        net = _build(meta["topology"], dtype)
        net.load_state_dict(payload["tensors"], strict=True)
        if not all(torch.isfinite(p).all() for p in net.parameters()):
            raise ValueError("the network holds non-finite weights")
        est.module_ = net
        est.classes_ = np.asarray(
            meta["classes"]["values"], dtype=np.dtype(meta["classes"]["dtype"])
        )
        names = meta["feature_names_in"]
        if names is not None:
            est.feature_names_in_ = np.asarray(names, dtype=object)
        for k in _FITTED:
            if k in meta["fitted"]:
                setattr(est, k, _decode(meta["fitted"][k]))
            elif k in _ADDED_LATER:
                setattr(est, k, _ADDED_LATER[k](est))
            else:
                raise KeyError(k)
        for h in est.history_ + (est.refit_["history"] if est.refit_ else []):
            h["hidden_layer_sizes"] = tuple(h["hidden_layer_sizes"])
        est.loss_curve_ = [h["train_loss"] for h in est.history_]
        est.validation_scores_ = [h["val_accuracy"] for h in est.history_]
        est.device_ = torch.device("cpu")
        est._set_weight_views()
    except ValueError as exc:
        raise ValueError(f"{path!s} is damaged or was modified: {exc}") from exc
    except (KeyError, TypeError, RuntimeError) as exc:
        raise ValueError(f"{path!s} is damaged or was modified: {exc}") from exc
    if est.n_features_in_ != net[0].in_features or len(est.classes_) != net[-1].out_features:
        raise ValueError(f"{path!s} is damaged or was modified: shapes do not match its labels")
    return est
