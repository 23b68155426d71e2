"""torchon-numpy: numpy arrays in a component's state saved as ``.npy`` (``npy``), and ``joblib`` for the rest."""

__version__ = "0.1.0"
