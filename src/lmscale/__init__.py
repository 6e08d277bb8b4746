"""lmscale: scaling laws for neural language models, from experiments to decisions."""

from lmscale.metrics import track  # the logging call of an external trainer (stdlib only)

__version__ = "0.1.0"
__all__ = ["__version__", "track"]
