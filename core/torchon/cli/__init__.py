"""The ``torchon`` command line."""
