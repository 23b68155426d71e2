"""The saver specification: one part of a component's state, written under a folder and read back.

Savers form a chain (Neuraxle's design): saving runs a component's savers in reverse, each writing its part of the
state and returning the rest, and the default saver last writes what is left as plain data; loading runs them
forward. Each declares a safety class: ``data`` (loading runs no code: JSON, safetensors, ``.npy`` without pickle)
or ``code`` (pickle, joblib), loaded only when the caller of ``torchon.load`` passes ``trust=True``.
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
        """Entered while a bundle's objects are rebuilt for this saver to restore: a saver that overwrites all of an
        object's state can skip work there (torchon-torch skips initialising weights it is about to load)."""
        return nullcontext()

    def covers(self, obj: Any, other: Any) -> bool:
        """Whether saving ``obj`` also saves ``other`` (a module's weights include its submodules'), so a type saver
        is not run again for an object an enclosing one already saved with it. The default is no."""
        return False

    @abstractmethod
    def save(self, obj: Any, state: dict[str, Any], folder: WriteFolder) -> dict[str, Any]:
        """Write the parts of ``state`` (or of ``obj``) this saver handles, with ``folder.write_bytes`` / ``open``,
        or to ``folder.file(name)`` when a library needs a path; return the state without them."""

    @abstractmethod
    def load(self, obj: Any, state: dict[str, Any], folder: ReadFolder) -> dict[str, Any]:
        """Read back what :meth:`save` wrote (``folder.read_bytes`` checks it against the manifest) and return
        ``state`` with those parts restored; or restore into ``obj`` directly (a module's weights)."""
