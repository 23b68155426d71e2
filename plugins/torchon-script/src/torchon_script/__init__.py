"""torchon-script: run an existing Python script as a torchon runnable (``!Script``)."""

__version__ = "0.1.0"
