"""The bases of components and runnables, below configs and bundles: those layers work with these classes, and
the public :class:`torchon.component.Component` and ``Runnable`` add what needs them (YAML, loading a bundle).
"""

from __future__ import annotations

import functools
import inspect
import logging
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar, Generic, TypeVar

from torchon.construction import changed, snapshot

if TYPE_CHECKING:
    from torchon.env import Environment
    from torchon.saver import Saver

__all__ = ["ComponentBase", "Context", "Partial", "RunnableBase", "init_signature"]

T = TypeVar("T")


_signatures: dict[type, inspect.Signature] = {}


def init_signature(cls: type) -> inspect.Signature:
    """The signature of ``cls(...)`` without ``self``, cached per class."""
    sig = _signatures.get(cls)
    if sig is None:
        try:
            sig = inspect.signature(cls)
        except (TypeError, ValueError):  # some builtins have no introspectable signature
            args = inspect.Parameter("args", inspect.Parameter.VAR_POSITIONAL)
            sig = inspect.Signature([args, inspect.Parameter("kwargs", inspect.Parameter.VAR_KEYWORD)])
        _signatures[cls] = sig
    return sig


def _capture(cls: type, args: tuple[Any, ...], kwargs: dict[str, Any]) -> dict[str, Any]:
    """The arguments as given, by parameter name (defaults left out: the class supplies them again)."""
    if not args:
        return dict(kwargs)
    bound = init_signature(cls).bind_partial(*args, **kwargs)
    config: dict[str, Any] = {}
    for name, value in bound.arguments.items():
        kind = bound.signature.parameters[name].kind
        if kind is inspect.Parameter.VAR_KEYWORD:
            config.update(value)
        elif kind is inspect.Parameter.VAR_POSITIONAL:
            config[name] = list(value)
        else:
            config[name] = value
    return config


@dataclass
class Context:
    """What ``setup`` receives: where the run writes and what is in force."""

    env: Environment
    output_dir: Path
    resume: bool = False
    logger: logging.Logger = field(default_factory=lambda: logging.getLogger("torchon.run"))


class ComponentBase:
    """What configs and bundles need of a component: its build arguments, state, versions and lifecycle (users
    subclass :class:`torchon.component.Component`, which documents ``VERSION`` and ``savers``)."""

    VERSION: ClassVar[int] = 1
    savers: ClassVar[Sequence[str | type[Saver]]] = ()

    _torchon_config: dict[str, Any]

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        init = cls.__dict__.get("__init__")
        if init is not None and not hasattr(init, "_torchon_init"):
            cls.__init__ = _noting_construction(cls, init)  # type: ignore[method-assign]

    def __new__(cls, *args: Any, **kwargs: Any) -> Any:
        base_new = super().__new__
        self = base_new(cls) if base_new is object.__new__ else base_new(cls, *args, **kwargs)
        # object.__setattr__: subclasses such as torch.nn.Module police __setattr__ before their __init__ runs
        object.__setattr__(self, "_torchon_config", _capture(cls, args, kwargs))
        return self

    def get_config(self) -> dict[str, Any]:
        """The arguments this object was built with, by name; nested components stay objects."""
        return dict(self._torchon_config)

    def get_state(self) -> dict[str, Any]:
        """What a bundle saves beyond the config: the public attributes added, re-assigned or changed in place
        after ``__init__`` returned (:mod:`torchon.construction`), less those named like a constructor parameter;
        what ``__init__`` set up from its arguments comes back when loading calls it again."""
        params = init_signature(type(self)).parameters
        public = {k: v for k, v in vars(self).items() if not k.startswith("_") and k not in params}
        return changed(public, self.__dict__.get("_torchon_built"))

    def set_state(self, state: Mapping[str, Any]) -> None:
        """Restore what :meth:`get_state` returned."""
        for key, value in state.items():
            setattr(self, key, value)

    @classmethod
    def upgrade_state(cls, state: dict[str, Any], version: int) -> dict[str, Any]:
        """Turn state saved at ``VERSION == version`` into the layout of ``version + 1``; loading calls it once
        per step, oldest first. Override it when you bump ``VERSION``."""
        raise NotImplementedError(
            f"{cls.__module__}.{cls.__qualname__} is at VERSION {cls.VERSION} but has no upgrade from VERSION "
            f"{version}; implement upgrade_state()"
        )

    def setup(self, context: Context) -> None:
        """Acquire heavy resources (data, devices). Called once before the work starts."""

    def teardown(self) -> None:
        """Release what :meth:`setup` acquired. Called once after the work, even when it failed."""


def _noting_construction(cls: type, init: Callable[..., None]) -> Callable[..., None]:
    """``cls.__init__`` that, when it is the outermost ``__init__`` of the object, records what it left."""

    @functools.wraps(init)
    def __init__(self: ComponentBase, *args: Any, **kwargs: Any) -> None:
        init(self, *args, **kwargs)
        if type(self).__init__ is __init__:  # not a super().__init__() call from a subclass's __init__
            object.__setattr__(self, "_torchon_built", snapshot(self))

    __init__._torchon_init = True  # type: ignore[attr-defined]
    return __init__


class RunnableBase(ComponentBase):
    """What runs and searches need of a runnable (documented on :class:`torchon.component.Runnable`)."""

    def run(self) -> None:
        """Do all the work. The default calls :meth:`step` until it returns False."""
        if not self.is_searchable():
            raise NotImplementedError(f"{type(self).__qualname__} must override run() or step()")
        while self.step():
            pass

    def step(self) -> bool:
        """Do one unit of work and say whether there is more."""
        raise NotImplementedError(f"{type(self).__qualname__} has no step(); it is not searchable")

    @classmethod
    def is_searchable(cls) -> bool:
        """Whether the class implements :meth:`step`."""
        return cls.step is not RunnableBase.step

    def report(self, step: int | None = None, **metrics: float) -> None:
        """Record metrics: kept as :attr:`latest_metrics` and written to the run's metrics log."""
        from torchon.metrics import check_metrics, report

        clean = check_metrics(metrics)
        self.__dict__.setdefault("_torchon_metrics", {}).update(clean)
        report(step=step, **clean)

    def best(self) -> Mapping[str, Any] | None:
        """The run's best result, recorded in ``run.json`` (``torchon runs``, ``torchon compare``): ``{"metric":
        "val_accuracy", "value": 0.97, "mode": "max", "at": "step 12"}`` (``at`` optional); None by default."""
        return None

    @property
    def latest_metrics(self) -> dict[str, float]:
        """The most recent value of each metric this runnable reported."""
        return dict(self.__dict__.get("_torchon_metrics", {}))


class Partial(Generic[T]):
    """A component written in a config without all its arguments, completed by the code that receives it: for a
    parameter ``Partial[X]`` a config gives ``!torch.optim.Adam {lr: 0.001}``, the receiver calls
    ``optimizer(model.parameters())``."""

    def __init__(
        self,
        target: Callable[..., T],
        kwargs: Mapping[str, Any] | None = None,
        tag: str | None = None,
        args: Sequence[Any] = (),
    ) -> None:
        self.target = target
        self.args = list(args)
        self.kwargs = dict(kwargs or {})
        self.tag = tag

    def __call__(self, *args: Any, **kwargs: Any) -> T:
        return self.target(*self.args, *args, **{**self.kwargs, **kwargs})

    def __repr__(self) -> str:
        name = getattr(self.target, "__qualname__", repr(self.target))
        args = ", ".join(f"{k}={v!r}" for k, v in self.kwargs.items())
        return f"Partial({name}, {args})"
