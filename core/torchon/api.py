"""The one face plugins import from: ``from torchon.api import TagRegistry, hookimpl, get_env, ...``.

Everything a plugin may rely on is named here, so the rest of the kernel can move without breaking a plugin (a test
checks that no plugin imports a kernel module other than ``torchon`` and ``torchon.api``). Names are imported on
first use, as ``import torchon`` does, so a plugin's entry module that imports ``hookimpl`` and a registry from
here stays cheap. ``metrics`` and ``session`` are the modules themselves.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

_BY_MODULE = {  # the module each name is imported from on first use
    "torchon.bundle.files": "BundleError BundleIntegrityError ReadFolder WriteFolder",
    "torchon.bundle.load": "load local_bundle verify",
    "torchon.bundle.manifest": "node_label read_manifest",
    "torchon.bundle.save": "SaveError save",
    "torchon.bundle.savers": "is_plain",
    "torchon.cli.command": "Command",
    "torchon.component": "Component Context Partial Runnable init_signature",
    "torchon.config": "Config load_config loads",
    "torchon.config.build": "TreeBuilder",
    "torchon.config.dump": "DumpError dump_yaml inline_yaml",
    "torchon.config.errors": "COMMAND_LINE ConfigError Mark did_you_mean",
    "torchon.config.nodes": "CList CMap Index LinkNode TagNode contents path_text walk",
    "torchon.config.provenance": "recall remember",
    "torchon.config.types": "Unbuilt check_value describe_type type_hints",
    "torchon.config.yaml_loader": "parse_documents",
    "torchon.distributions": "forget_distributions installed_version module_distributions",
    "torchon.env": "Environment get_env set_env",
    "torchon.errors": "ArgumentError RunFailed TorchonError UsageError UserError",
    "torchon.extensions": "ExtensionError ExtensionResolver ExtensionSpec ResolvedExtension classify_spec "
    "has_project_file import_extension key_mismatch module_names_in",
    "torchon.extensions.local": "git_source put_on_path",
    "torchon.first_party": "FIRST_PARTY first_party",
    "torchon.hookspecs": "hookimpl hookspec",
    "torchon.importing": "import_target",
    "torchon.metrics": "METRICS_FD_ENV",
    "torchon.plugins": "PluginManager get_manager set_manager",
    "torchon.registry": "CommandRegistry NameRegistry ResolverRegistry SaverRegistry StorageRegistry "
    "TagRegistry",
    "torchon.run_folder": "RunFolder",
    "torchon.saver": "Saver",
    "torchon.session": "RunInfo",
    "torchon.storage": "LocalStorage Storage StorageError split_scheme storage_for",
}
_NAMES = {name: module for module, names in _BY_MODULE.items() for name in names.split()}
_MODULES = {"metrics": "torchon.metrics", "session": "torchon.session"}

# The same names, written out so that type checkers see what a py.typed package exports.
__all__ = ["COMMAND_LINE", "FIRST_PARTY", "METRICS_FD_ENV", "ArgumentError", "BundleError"]
__all__ += ["BundleIntegrityError", "CList", "CMap", "Command", "CommandRegistry", "Component", "Config"]
__all__ += ["ConfigError", "Context", "DumpError", "Environment", "ExtensionError", "ExtensionResolver"]
__all__ += ["ExtensionSpec", "Index", "LinkNode", "LocalStorage", "Mark", "NameRegistry", "Partial"]
__all__ += ["PluginManager", "ReadFolder"]
__all__ += ["ResolvedExtension", "ResolverRegistry", "RunFailed", "RunFolder", "RunInfo", "Runnable"]
__all__ += ["SaveError", "Saver", "SaverRegistry", "Storage", "StorageError", "StorageRegistry", "TagNode"]
__all__ += ["TagRegistry", "TorchonError", "TreeBuilder", "Unbuilt", "UsageError", "UserError"]
__all__ += ["WriteFolder", "check_value", "classify_spec", "contents", "describe_type", "did_you_mean"]
__all__ += ["dump_yaml", "first_party", "forget_distributions", "get_env", "get_manager", "git_source"]
__all__ += ["has_project_file", "hookimpl", "hookspec", "import_extension", "import_target", "init_signature"]
__all__ += ["inline_yaml", "installed_version", "is_plain", "key_mismatch", "load", "load_config", "loads"]
__all__ += ["local_bundle", "metrics", "module_distributions", "module_names_in", "node_label"]
__all__ += [
    "parse_documents",
    "path_text",
    "put_on_path",
    "read_manifest",
    "recall",
    "remember",
    "save",
    "session",
]
__all__ += ["set_env", "set_manager", "split_scheme", "storage_for", "type_hints", "verify", "walk"]

if TYPE_CHECKING:
    from torchon import metrics, session
    from torchon.bundle.files import BundleError, BundleIntegrityError, ReadFolder, WriteFolder
    from torchon.bundle.load import load, local_bundle, verify
    from torchon.bundle.manifest import node_label, read_manifest
    from torchon.bundle.save import SaveError, save
    from torchon.bundle.savers import is_plain
    from torchon.cli.command import Command
    from torchon.component import Component, Context, Partial, Runnable, init_signature
    from torchon.config import Config, load_config, loads
    from torchon.config.build import TreeBuilder
    from torchon.config.dump import DumpError, dump_yaml, inline_yaml
    from torchon.config.errors import COMMAND_LINE, ConfigError, Mark, did_you_mean
    from torchon.config.nodes import CList, CMap, Index, LinkNode, TagNode, contents, path_text, walk
    from torchon.config.provenance import recall, remember
    from torchon.config.types import Unbuilt, check_value, describe_type, type_hints
    from torchon.config.yaml_loader import parse_documents
    from torchon.distributions import forget_distributions, installed_version, module_distributions
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
    from torchon.extensions.local import git_source, put_on_path
    from torchon.first_party import FIRST_PARTY, first_party
    from torchon.hookspecs import hookimpl, hookspec
    from torchon.importing import import_target
    from torchon.metrics import METRICS_FD_ENV
    from torchon.plugins import PluginManager, get_manager, set_manager
    from torchon.registry import (
        CommandRegistry,
        NameRegistry,
        ResolverRegistry,
        SaverRegistry,
        StorageRegistry,
        TagRegistry,
    )
    from torchon.run_folder import RunFolder
    from torchon.saver import Saver
    from torchon.session import RunInfo
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
