"""Bundles: components saved with their config, state, digests and requirements, loaded back safely."""

from torchon.bundle.files import BundleIntegrityError
from torchon.bundle.load import BundleError, BundleSafetyError, BundleVersionError, load
from torchon.bundle.save import SaveError, save

__all__ = [
    "BundleError",
    "BundleIntegrityError",
    "BundleSafetyError",
    "BundleVersionError",
    "SaveError",
    "load",
    "save",
]
