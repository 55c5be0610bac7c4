"""Paper-trading strategies, one module each; importing the package registers all five in
``strategies.base.REGISTRY`` (the contract is in ``strategies.base``, shared helpers in
``strategies.common``)."""

from strategies import correlation, ev_multi, mean_reversion, momentum, sharp_line
from strategies.base import REGISTRY

__all__ = ["REGISTRY", "correlation", "ev_multi", "mean_reversion", "momentum", "sharp_line"]
