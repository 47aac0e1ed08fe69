"""sksurgeon: an MLP classifier that optimises its own topology while it trains."""

from ._version import __version__

__all__ = ["__version__"]
