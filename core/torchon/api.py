"""The one face plugins import from: ``from torchon.api import TagRegistry, hookimpl, get_env, ...``.

Everything a plugin may rely on is named here, so the rest of the kernel can move without breaking a plugin (a test
checks that no plugin imports a kernel module other than ``torchon`` and ``torchon.api``). Names are imported on
first use, as ``import torchon`` does, so a plugin's entry module that imports ``hookimpl`` and a registry from
here stays cheap. ``metrics`` and ``session`` are the modules themselves.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

_NAMES: dict[str, str] = {
    "ArgumentError": "torchon.errors",
    "BundleError": "torchon.bundle.files",
    "BundleIntegrityError": "torchon.bundle.files",
    "CList": "torchon.config.nodes",
    "CMap": "torchon.config.nodes",
    "Command": "torchon.cli.command",
    "CommandRegistry": "torchon.registry",
    "Component": "torchon.component",
    "Config": "torchon.config",
    "ConfigError": "torchon.config.errors",
    "Context": "torchon.component",
    "DumpError": "torchon.config.dump",
    "Environment": "torchon.env",
    "ExecutorRegistry": "torchon.registry",
    "ExtensionError": "torchon.extensions",
    "ExtensionResolver": "torchon.extensions",
    "ExtensionSpec": "torchon.extensions",
    "FIRST_PARTY": "torchon.first_party",
    "Installed": "torchon.extensions.pip",
    "LinkNode": "torchon.config.nodes",
    "LocalStorage": "torchon.storage",
    "METRICS_FD_ENV": "torchon.metrics",
    "Mark": "torchon.config.errors",
    "Partial": "torchon.component",
    "PluginManager": "torchon.plugins",
    "ReadFolder": "torchon.bundle.files",
    "ResolvedExtension": "torchon.extensions",
    "ResolverRegistry": "torchon.registry",
    "RunFailed": "torchon.errors",
    "RunInfo": "torchon.session",
    "Runnable": "torchon.component",
    "SaveError": "torchon.bundle.save",
    "Saver": "torchon.saver",
    "SaverRegistry": "torchon.registry",
    "Storage": "torchon.storage",
    "storage_for": "torchon.storage",
    "StorageError": "torchon.storage",
    "StorageRegistry": "torchon.registry",
    "TagNode": "torchon.config.nodes",
    "TagRegistry": "torchon.registry",
    "TorchonError": "torchon.errors",
    "TreeBuilder": "torchon.config.build",
    "TrialInfo": "torchon.session",
    "Unbuilt": "torchon.config.types",
    "UsageError": "torchon.errors",
    "UserError": "torchon.errors",
    "WriteFolder": "torchon.bundle.files",
    "check_value": "torchon.config.types",
    "classify_spec": "torchon.extensions",
    "describe_type": "torchon.config.types",
    "did_you_mean": "torchon.config.errors",
    "dump_yaml": "torchon.config.dump",
    "first_party": "torchon.first_party",
    "get_env": "torchon.env",
    "get_manager": "torchon.plugins",
    "has_project_file": "torchon.extensions",
    "hookimpl": "torchon.hookspecs",
    "import_extension": "torchon.extensions",
    "import_target": "torchon.importing",
    "init_signature": "torchon.component",
    "installed_for_module": "torchon.extensions.pip",
    "key_mismatch": "torchon.extensions",
    "load": "torchon.bundle.load",
    "load_config": "torchon.config",
    "loads": "torchon.config",
    "local_bundle": "torchon.bundle.load",
    "module_distributions": "torchon.distributions",
    "module_names_in": "torchon.extensions",
    "parse_documents": "torchon.config.yaml_loader",
    "pip_install": "torchon.extensions.pip",
    "put_on_path": "torchon.extensions.local",
    "read_manifest": "torchon.bundle.manifest",
    "recall": "torchon.config.provenance",
    "remember": "torchon.config.provenance",
    "save": "torchon.bundle.save",
    "set_env": "torchon.env",
    "set_manager": "torchon.plugins",
    "split_scheme": "torchon.storage",
    "type_hints": "torchon.config.types",
    "walk": "torchon.config.nodes",
    "contents": "torchon.config.nodes",
}
_MODULES = {"metrics": "torchon.metrics", "session": "torchon.session"}

__all__ = [
    "FIRST_PARTY",
    "METRICS_FD_ENV",
    "ArgumentError",
    "BundleError",
    "BundleIntegrityError",
    "CList",
    "CMap",
    "Command",
    "CommandRegistry",
    "Component",
    "Config",
    "ConfigError",
    "Context",
    "DumpError",
    "Environment",
    "ExecutorRegistry",
    "ExtensionError",
    "ExtensionResolver",
    "ExtensionSpec",
    "Installed",
    "LinkNode",
    "LocalStorage",
    "Mark",
    "Partial",
    "PluginManager",
    "ReadFolder",
    "ResolvedExtension",
    "ResolverRegistry",
    "RunFailed",
    "RunInfo",
    "Runnable",
    "SaveError",
    "Saver",
    "SaverRegistry",
    "Storage",
    "StorageError",
    "StorageRegistry",
    "TagNode",
    "TagRegistry",
    "TorchonError",
    "TreeBuilder",
    "TrialInfo",
    "Unbuilt",
    "UsageError",
    "UserError",
    "WriteFolder",
    "check_value",
    "classify_spec",
    "contents",
    "describe_type",
    "did_you_mean",
    "dump_yaml",
    "first_party",
    "get_env",
    "get_manager",
    "has_project_file",
    "hookimpl",
    "import_extension",
    "import_target",
    "init_signature",
    "installed_for_module",
    "key_mismatch",
    "load",
    "load_config",
    "loads",
    "local_bundle",
    "metrics",
    "module_distributions",
    "module_names_in",
    "parse_documents",
    "pip_install",
    "put_on_path",
    "read_manifest",
    "recall",
    "remember",
    "save",
    "session",
    "set_env",
    "set_manager",
    "split_scheme",
    "storage_for",
    "type_hints",
    "walk",
]

if TYPE_CHECKING:
    from torchon import metrics, session
    from torchon.bundle.files import BundleError, BundleIntegrityError, ReadFolder, WriteFolder
    from torchon.bundle.load import load, local_bundle
    from torchon.bundle.manifest import read_manifest
    from torchon.bundle.save import SaveError, save
    from torchon.cli.command import Command
    from torchon.component import Component, Context, Partial, Runnable, init_signature
    from torchon.config import Config, load_config, loads
    from torchon.config.build import TreeBuilder
    from torchon.config.dump import DumpError, dump_yaml
    from torchon.config.errors import ConfigError, Mark, did_you_mean
    from torchon.config.nodes import CList, CMap, LinkNode, TagNode, contents, walk
    from torchon.config.provenance import recall, remember
    from torchon.config.types import Unbuilt, check_value, describe_type, type_hints
    from torchon.config.yaml_loader import parse_documents
    from torchon.distributions import module_distributions
    from torchon.env import Environment, get_env, set_env
    from torchon.errors import ArgumentError, RunFailed, TorchonError, UsageError, UserError
    from torchon.extensions import (
        ExtensionError,
        ExtensionResolver,
        ExtensionSpec,
        ResolvedExtension,
        classify_spec,
        has_project_file,
        import_extension,
        key_mismatch,
        module_names_in,
    )
    from torchon.extensions.local import put_on_path
    from torchon.extensions.pip import Installed, installed_for_module, pip_install
    from torchon.first_party import FIRST_PARTY, first_party
    from torchon.hookspecs import hookimpl
    from torchon.importing import import_target
    from torchon.metrics import METRICS_FD_ENV
    from torchon.plugins import PluginManager, get_manager, set_manager
    from torchon.registry import (
        CommandRegistry,
        ExecutorRegistry,
        ResolverRegistry,
        SaverRegistry,
        StorageRegistry,
        TagRegistry,
    )
    from torchon.saver import Saver
    from torchon.session import RunInfo, TrialInfo
    from torchon.storage import LocalStorage, Storage, StorageError, split_scheme, storage_for


def __getattr__(name: str) -> Any:
    if name in _MODULES:
        value = importlib.import_module(_MODULES[name])
    elif name in _NAMES:
        value = getattr(importlib.import_module(_NAMES[name]), name)
    else:
        raise AttributeError(f"module 'torchon.api' has no attribute {name!r}")
    globals()[name] = value
    return value
