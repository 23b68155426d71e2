"""torchon-history: ``torchon runs`` and ``torchon compare``, read back from run folders."""

__version__ = "0.1.0"
