"""The saver specification: one part of a component's state, written under a folder and read back.

Savers form a chain (Neuraxle's design). A component lists its savers; on save they run in reverse order, each
writing the part of the state it handles under the folder it is given and returning the state without that part;
the default saver runs last and writes what is left as plain data. On load they run forward: the default saver
reads the plain data, then each saver puts its part back.

Every saver declares a safety class. ``data``: loading runs no code (JSON, YAML, safetensors, ``.npy`` without
pickle). ``code``: loading can run code (pickle, joblib); such savers load only when the caller of
``torchon.load`` passes ``trust=True``, never because a bundle says so.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from contextlib import AbstractContextManager, nullcontext
from typing import TYPE_CHECKING, Any, ClassVar, Literal

if TYPE_CHECKING:
    from torchon.bundle.files import ReadFolder, WriteFolder

__all__ = ["SAFETY_CLASSES", "Saver"]

SAFETY_CLASSES = ("data", "code")


class Saver(ABC):
    """Saves one part of a component's state and loads it back.

    Subclasses set ``name`` (how manifests and components refer to it), ``safety`` (``"data"`` or ``"code"``) and
    ``protocol`` (bump it when the files it writes change, so old bundles can be told apart).
    """

    name: ClassVar[str]
    safety: ClassVar[Literal["data", "code"]]
    protocol: ClassVar[int] = 1

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        if getattr(cls, "__abstractmethods__", None):
            return
        safety = getattr(cls, "safety", None)
        if safety not in SAFETY_CLASSES:
            raise TypeError(f"saver {cls.__qualname__} must set safety = 'data' or 'code', not {safety!r}")
        if not isinstance(getattr(cls, "name", None), str) or not cls.name:
            raise TypeError(f"saver {cls.__qualname__} must set a non-empty string name")
        if not isinstance(cls.protocol, int) or cls.protocol < 1:
            raise TypeError(f"saver {cls.__qualname__} must set protocol to a positive int")

    def can_save(self, obj: Any, state: dict[str, Any]) -> bool:
        """Whether this saver has anything to do for ``obj``; the default is yes."""
        return True

    @classmethod
    def build_context(cls) -> AbstractContextManager[Any]:
        """A context to build a bundle's objects in when this saver will restore them.

        Loading enters it while rebuilding the objects; a saver that overwrites all of an object's state can
        skip work there (torchon-torch skips initialising weights it is about to load). The default does nothing.
        """
        return nullcontext()

    def covers(self, obj: Any, other: Any) -> bool:
        """Whether saving ``obj`` also saves ``other`` (a module's weights include its submodules' weights).

        A type saver is not run for an object that the same saver already covers through an enclosing object of
        the tree, so nothing is saved twice. The default is no.
        """
        return False

    @abstractmethod
    def save(self, obj: Any, state: dict[str, Any], folder: WriteFolder) -> dict[str, Any]:
        """Write the parts of ``state`` (or of ``obj`` itself) this saver handles; return the state without them.

        Write with ``folder.write_bytes(name, data)`` / ``folder.write_text`` (digested in memory), or to
        ``folder.file(name)`` when a library needs a path.
        """

    @abstractmethod
    def load(self, obj: Any, state: dict[str, Any], folder: ReadFolder) -> dict[str, Any]:
        """Read back what :meth:`save` wrote and return ``state`` with those parts restored.

        ``folder.read_bytes(name)`` returns bytes already checked against the bundle's manifest; a saver may also
        restore into ``obj`` directly (a module's weights).
        """
