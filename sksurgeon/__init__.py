"""sksurgeon: an MLP classifier that optimises its own topology while it trains.

Implements "Neural network surgery: combining training with topology optimization"
(Schiessler et al., Neural Networks 2021) as a scikit-learn estimator on PyTorch.
"""

# The public names load on first use (PEP 562). Worker processes of a parallel fit import
# this package to unpickle their tasks, which need torch and the search's own modules only;
# loading scikit-learn (with scipy.stats and pandas) as well would double each worker's
# start-up, about 1 s of a 2-core machine for every fresh worker.
import importlib
from typing import TYPE_CHECKING

from ._version import __version__

if TYPE_CHECKING:  # pragma: no cover
    from . import plotting, surgery
    from ._classifier import SurgeonClassifier
    from ._persistence import load, save

_LAZY = {
    "SurgeonClassifier": ("._classifier", "SurgeonClassifier"),
    "load": ("._persistence", "load"),
    "save": ("._persistence", "save"),
    "plotting": (".plotting", None),
    "surgery": (".surgery", None),
}

__all__ = ["SurgeonClassifier", "load", "plotting", "save", "surgery", "__version__"]


def __getattr__(name):
    try:
        module, attr = _LAZY[name]
    except KeyError:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}") from None
    value = importlib.import_module(module, __name__)
    if attr is not None:
        value = getattr(value, attr)
    globals()[name] = value
    return value


def __dir__():
    return sorted(set(globals()) | set(__all__))
