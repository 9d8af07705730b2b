"""What ``stepstone.config`` and ``stepstone.summary`` are: a run's config and summary handles.

Kept apart from the run itself (:mod:`stepstone.sdk.run`, which loads the store) so that
``import stepstone`` can give every script its module-level ``config`` and ``summary`` without
loading anything a run needs; a handle bound to a run queues each change on it.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any, Protocol

from stepstone.errors import UsageError


class Owner(Protocol):
    """What a handle is bound to: a run (:class:`stepstone.sdk.run.Run`)."""

    @property
    def summary(self) -> Summary: ...

    def _enqueue_op(self, kind: str, payload: Any) -> None: ...


class Config:
    """A run's config with attribute and item access (``config.lr``, ``config["lr"]``)."""

    def __init__(self, data: Mapping[str, Any] | None = None, run: Owner | None = None) -> None:
        object.__setattr__(self, "_data", dict(data or {}))
        object.__setattr__(self, "_run", run)

    def _changed(self, items: Mapping[str, Any]) -> None:
        run = self._run
        if run is not None:
            run._enqueue_op("config", dict(items))
            # imported when a config first changes, not by `import stepstone` (start-up speed)
            from stepstone.sdk.lints import check_config

            check_config(run.summary, self._data)  # a precision setting added now warns now

    def __getattr__(self, name: str) -> Any:
        if name.startswith("__"):
            raise AttributeError(name)
        try:
            return self._data[name]
        except KeyError:
            raise AttributeError(f"config has no key {name!r}") from None

    def __setattr__(self, name: str, value: Any) -> None:
        self[name] = value

    def __getitem__(self, key: str) -> Any:
        return self._data[key]

    def __setitem__(self, key: str, value: Any) -> None:
        self._data[key] = value
        self._changed({key: value})

    def __contains__(self, key: object) -> bool:
        return key in self._data

    def __iter__(self) -> Iterator[str]:
        return iter(self._data)

    def __len__(self) -> int:
        return len(self._data)

    def keys(self) -> Any:
        return self._data.keys()

    def items(self) -> Any:
        return self._data.items()

    def values(self) -> Any:
        return self._data.values()

    def get(self, key: str, default: Any = None) -> Any:
        return self._data.get(key, default)

    def update(self, data: Any = None, allow_val_change: bool = True, **kwargs: Any) -> None:
        items = dict(as_mapping(data) if data is not None else {}, **kwargs)
        self._data.update(items)
        self._changed(items)

    def setdefaults(self, data: Mapping[str, Any]) -> None:
        added = {k: v for k, v in as_mapping(data).items() if k not in self._data}
        if added:
            self.update(added)

    def as_dict(self) -> dict[str, Any]:
        return dict(self._data)

    def __repr__(self) -> str:
        return f"Config({self._data!r})"


def as_mapping(data: Any) -> dict[str, Any]:
    """A dict from a mapping, an argparse.Namespace, a dataclass or an OmegaConf config."""
    if isinstance(data, Config):
        return data.as_dict()
    if isinstance(data, Mapping):
        return dict(data)
    module = type(data).__module__
    if module.startswith("omegaconf"):
        from omegaconf import OmegaConf

        container = OmegaConf.to_container(data, resolve=True)
        if not isinstance(container, dict):
            raise UsageError("an OmegaConf config must be a mapping at the top level")
        return {str(k): v for k, v in container.items()}
    if hasattr(data, "__dataclass_fields__"):
        import dataclasses

        return dataclasses.asdict(data)
    if hasattr(data, "__dict__"):
        return {k: v for k, v in vars(data).items() if not k.startswith("_")}
    raise UsageError(
        f"config must be a dict, argparse.Namespace, dataclass or OmegaConf config, "
        f"not {type(data).__name__}"
    )


class Summary(dict):  # type: ignore[type-arg]
    """A run's summary: the last value of each metric unless set explicitly."""

    def __init__(self, run: Owner | None = None) -> None:
        super().__init__()
        self._run = run

    def __setitem__(self, key: str, value: Any) -> None:
        super().__setitem__(key, value)
        if self._run is not None:
            self._run._enqueue_op("summary", {key: value})

    def update(self, data: Any = None, **kwargs: Any) -> None:  # type: ignore[override]
        items = dict(data or {}, **kwargs)
        super().update(items)
        if self._run is not None:
            self._run._enqueue_op("summary", items)
