"""sksurgeon: an MLP classifier that optimises its own topology while it trains.

Implements "Neural network surgery: combining training with topology optimization"
(Schiessler et al., Neural Networks 2021) as a scikit-learn estimator on PyTorch.
"""

from . import plotting, surgery
from ._classifier import SurgeonClassifier
from ._persistence import load, save
from ._version import __version__

__all__ = ["SurgeonClassifier", "load", "plotting", "save", "surgery", "__version__"]
