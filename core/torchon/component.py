"""Components and runnables: the objects a config builds, a run executes and a bundle saves. Their bases
(:mod:`torchon._component`) hold what configs and bundles need; these add what uses them (``to_yaml``,
``load_from_path``).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TypeVar

from torchon._component import ComponentBase, Context, Partial, RunnableBase, init_signature

__all__ = ["Component", "Context", "Partial", "Runnable", "init_signature"]

C = TypeVar("C", bound="Component")


class Component(ComponentBase):
    """Any object a config can build and a bundle can save. It remembers the arguments it was built with (by a
    config or by Python code), so it can be written back as YAML and rebuilt. Its lifecycle is Neuraxle's:
    ``__init__`` stays cheap (no data, no GPU), ``setup(context)`` acquires heavy things, ``teardown()`` releases
    them; saving never needs ``setup``.

    Class attributes a subclass may set:

    ``VERSION``
        the version of the saved state's layout; bump it when the layout changes and implement
        :meth:`upgrade_state` so bundles saved by older versions still load.
    ``savers``
        names (as registered by plugins) or classes of the savers for this component's state, in order; the
        default saver (JSON/YAML for plain data) is implied first. On save they run in reverse order, each taking
        its part of the state; on load they run forward.
    """

    def to_yaml(self) -> str:
        """This object as a torchon config (tags, nested components, shared objects as links)."""
        from torchon.config.dump import dump_yaml

        return dump_yaml(self)

    @classmethod
    def load_from_path(cls: type[C], path: str, *, trust: bool = False, allow: Sequence[str] = ()) -> C:
        """Load a saved bundle (a folder or any storage URI), or the newest bundle a run saved under its output
        folder, as an object of this class: the top object if it is one, else the one object of this class in it.
        A config uses it as a factory: ``model: !my_ext.Model.load_from_path {path: s3://bucket/model}``."""
        from torchon.bundle.load import load_from_path

        return load_from_path(cls, path, trust=trust, allow=allow)


class Runnable(Component, RunnableBase):
    """A component with work to do: override :meth:`run`, or :meth:`step` to make it searchable.

    A searchable runnable does one unit of work per :meth:`step` and reports metrics with :meth:`report`, so a
    search can stop it early and checkpoint it between steps.
    """
