"""A project of a lab (the runs that share a ``project`` name), shaped like wandb's."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from stepstone.api._api import Api
    from stepstone.api._runs import Runs

ENTITY = "stepstone"
"""A lab has no entities (users or teams): every run and project answers this one."""


class Project:
    """``name``, ``entity``, ``path``, ``url``, and :meth:`runs`."""

    def __init__(self, api: Api, name: str) -> None:
        self._api = api
        self.name = name
        self.entity = ENTITY

    @property
    def path(self) -> list[str]:
        return [self.entity, self.name]

    @property
    def url(self) -> str:
        return f"{self._api.ui_url}/runs?project={self.name}"

    def runs(self, **kwargs: Any) -> Runs:
        """The project's runs (the keywords of :meth:`Api.runs`)."""
        return self._api.runs(self.name, **kwargs)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Project) and other.name == self.name

    def __hash__(self) -> int:
        return hash(self.name)

    def __repr__(self) -> str:
        return f"<Project {'/'.join(self.path)}>"
