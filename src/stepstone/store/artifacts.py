"""The lab's artifacts: every version of a name that any run logged, and which one a reference
(``name``, ``name:latest``, ``name:v3``, ``name:best``, with ``project/`` or
``entity/project/`` before it) picks.

A run links an artifact version as objects (see :mod:`stepstone.sdk.artifacts`): its manifest
with role ``artifact-manifest`` under ``<name>:v<N>``, its files with role ``artifact`` under
``<name>:v<N>/<path>`` (:func:`file_tag`). The rule, here and nowhere else:

- **Numbers are lab-wide.** A new version of ``name`` is numbered one past the highest number
  of ``name`` in the lab (any run, any project) and past the ones its own run logged:
  :func:`next_number`. Labs written before this rule numbered per run; their versions keep
  their numbers and are read by the same rule.
- **Order is logging time**: the manifest's ``logged_at`` (a manifest written before it
  existed counts from its run's start), then run id, then number.
- ``name:vN`` is the **first-logged** version numbered N. Two runs that log ``name`` at the
  same moment (before either's version reached the lab) can both take N; the later one is then
  reached as ``latest`` while it is the newest, by its aliases, or through its run
  (``Api().run(ID).logged_artifacts()``).
- ``name:latest`` (and a bare ``name``) is the **newest-logged** version; ``name:<alias>`` the
  newest-logged version given that alias at log time (an alias moves to the newer version, as
  in wandb). A version's ``aliases`` are those it holds now, ``latest`` included.
- ``project/`` picks among the versions logged by runs of that project (numbers stay the
  lab's); an entity is ignored (a lab has none).

A run that uses a version records it as an object with role ``artifact-input`` under
``<name>:v<N>``, pointing at that version's manifest: :meth:`ArtifactIndex.used_by` reads
them back, with the run that logged each.
"""

from __future__ import annotations

import dataclasses
import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from stepstone.errors import NotFoundError, UsageError
from stepstone.store.db import Database
from stepstone.store.objects import ObjectIndex, ObjectStore

MANIFEST_ROLE = "artifact-manifest"
FILE_ROLE = "artifact"
INPUT_ROLE = "artifact-input"
NAME = re.compile(r"^[A-Za-z0-9_.\-]+$")
NOT_HERE = ("stepstone reads the artifacts logged to this lab and fetches nothing from "
            "wandb's servers")


@dataclass(frozen=True)
class Reference:
    """A parsed reference: ``[entity/][project/]name[:selector]`` (``latest`` when none)."""

    name: str
    selector: str = "latest"
    project: str | None = None


def parse_reference(text: str) -> Reference:
    """``name``, ``name:v3``, ``name:best``, ``project/name:...`` or
    ``entity/project/name:...``; anything else is a UsageError saying the shape."""
    parts = str(text).split("/")
    head, sep, selector = parts[-1].partition(":")
    if (len(parts) > 3 or not all(parts) or not NAME.match(head)
            or (sep and not NAME.match(selector))):
        raise UsageError(f"{text!r} is not an artifact reference: use NAME, NAME:vN, NAME:ALIAS "
                         "or NAME:latest, optionally after PROJECT/ or ENTITY/PROJECT/")
    return Reference(head, selector or "latest", parts[-2] if len(parts) > 1 else None)


def tag(name: str, number: int) -> str:
    """A version's name among a run's objects: ``<name>:v<N>``."""
    return f"{name}:v{number}"


def file_tag(tagged: str, path: str) -> str:
    """A version's file among its run's objects: ``<name>:v<N>/<path>``."""
    return f"{tagged}/{path}"


def _split(tagged: str) -> tuple[str, int] | None:
    name, _, tail = tagged.rpartition(":v")
    return (name, int(tail)) if name and tail.isdigit() else None


@dataclass(frozen=True)
class ArtifactVersion:
    """One logged version: its name and lab-wide number, the run that logged it (None where
    that run is no longer in the lab), its manifest (type, description, metadata, files,
    references) and that manifest's hash and size, its logging time, and the aliases it
    holds now."""

    name: str
    number: int
    run_id: str | None
    project: str | None
    manifest_hash: str
    size: int
    logged_at: float
    manifest: Mapping[str, Any] = field(compare=False, repr=False)
    aliases: tuple[str, ...] = ()

    @property
    def version(self) -> str:
        return f"v{self.number}"

    @property
    def type(self) -> str:
        return str(self.manifest.get("type", "unspecified"))

    @property
    def files(self) -> dict[str, dict[str, Any]]:
        """Each file's path in the artifact → its ``hash`` and ``size``."""
        return dict(self.manifest.get("files") or {})

    @property
    def given_aliases(self) -> list[str]:
        """The aliases the version was logged with."""
        return [str(a) for a in self.manifest.get("aliases") or []]

    def order(self) -> tuple[float, str, int]:
        return (self.logged_at, self.run_id or "", self.number)


class ArtifactVersions:
    """The versions of one name (in a lab, or a project of it), in logging order, and which
    one a selector picks (the rule in the module's docstring)."""

    def __init__(self, name: str, versions: Sequence[ArtifactVersion]) -> None:
        self.name = name
        ordered = sorted(versions, key=ArtifactVersion.order)
        holders: dict[str, int] = {}  # alias -> the index of its newest holder
        for index, version in enumerate(ordered):
            for alias in version.given_aliases:
                holders[alias] = index
        if ordered:
            holders["latest"] = len(ordered) - 1
        self._holders = holders
        self.all = [dataclasses.replace(v, aliases=tuple(sorted(
            a for a, holder in holders.items() if holder == i))) for i, v in enumerate(ordered)]

    def pick(self, selector: str) -> ArtifactVersion | None:
        numbered = _split(f"{self.name}:{selector}")
        if numbered is not None:
            return next((v for v in self.all if v.number == numbered[1]), None)
        index = self._holders.get(selector)
        return None if index is None else self.all[index]

    def find(self, manifest_hash: str) -> ArtifactVersion | None:
        return next((v for v in self.all if v.manifest_hash == manifest_hash), None)

    def describe(self) -> str:
        """``v0, v1, v2 (aliases: best → v1, latest → v2)``, for an error."""
        numbers = ", ".join(dict.fromkeys(v.version for v in self.all))
        aliases = ", ".join(f"{a} → {self.all[i].version}"
                            for a, i in sorted(self._holders.items()))
        return f"{numbers} (aliases: {aliases})"


class ArtifactIndex:
    """The lab's artifact versions, read from ``run_objects`` and the manifests in
    ``objects``."""

    def __init__(self, db: Database, objects: ObjectStore) -> None:
        self.db = db
        self.objects = objects

    def names(self, project: str | None = None) -> list[str]:
        rows = self.db.query(
            "SELECT DISTINCT o.name FROM run_objects o JOIN runs r ON r.id = o.run_id "
            "WHERE o.role = ?" + (" AND r.project = ?" if project else ""),
            (MANIFEST_ROLE, project) if project else (MANIFEST_ROLE,))
        return sorted({split[0] for r in rows if (split := _split(r["name"])) is not None})

    def versions(self, name: str, project: str | None = None) -> ArtifactVersions:
        prefix = f"{name}:v"
        sql = ("SELECT o.run_id, o.name, o.hash, r.project, r.created_at, b.size "
               "FROM run_objects o JOIN runs r ON r.id = o.run_id "
               "JOIN objects b ON b.hash = o.hash "
               "WHERE o.role = ? AND substr(o.name, 1, ?) = ?")
        params: list[Any] = [MANIFEST_ROLE, len(prefix), prefix]
        if project:
            sql += " AND r.project = ?"
            params.append(project)
        found = []
        for row in self.db.query(sql, params):
            split = _split(row["name"])
            if split is None or split[0] != name:
                continue
            manifest = self._manifest(row["hash"])
            found.append(ArtifactVersion(
                name, split[1], row["run_id"], row["project"], row["hash"], int(row["size"]),
                float(manifest.get("logged_at") or row["created_at"]), manifest))
        return ArtifactVersions(name, found)

    def resolve(self, reference: str | Reference, type: str | None = None) -> ArtifactVersion:
        """The version a reference names, or an error naming what there is: the names (an
        unknown name), the versions and aliases (an unknown version), the type (a mismatch)."""
        ref = reference if isinstance(reference, Reference) else parse_reference(reference)
        where = f"project {ref.project!r} of this lab" if ref.project else "this lab"
        versions = self.versions(ref.name, ref.project)
        if not versions.all:
            names = self.names(ref.project)
            raise NotFoundError(
                f"no artifact {ref.name!r} in {where} ({NOT_HERE}); "
                + (f"it has {', '.join(names)}" if names else "it has no artifacts yet"))
        found = versions.pick(ref.selector)
        if found is None:
            raise NotFoundError(f"artifact {ref.name!r} in {where} has no version or alias "
                                f"{ref.selector!r}: it has {versions.describe()}")
        if type is not None and found.type != type:
            raise UsageError(f"artifact {ref.name}:{found.version} is of type {found.type!r}, "
                             f"not {type!r}: leave type out or name another artifact")
        return found

    def logged_by(self, run_id: str) -> list[ArtifactVersion]:
        """The versions a run logged, by name and number."""
        return self._of_run(run_id, MANIFEST_ROLE)[MANIFEST_ROLE]

    def used_by(self, run_id: str) -> list[ArtifactVersion]:
        """The versions a run used (its ``artifact-input`` objects), by name and number."""
        return self._of_run(run_id, INPUT_ROLE)[INPUT_ROLE]

    def of_run(self, run_id: str) -> tuple[list[ArtifactVersion], list[ArtifactVersion]]:
        """The versions a run logged and those it used, read with one query (and nothing
        more for a run with none)."""
        found = self._of_run(run_id, MANIFEST_ROLE, INPUT_ROLE)
        return found[MANIFEST_ROLE], found[INPUT_ROLE]

    def file_of(self, run_id: str, tagged: str, path: str) -> str:
        """The hash of the file at ``path`` in version ``tagged`` (``name:vN``) that run
        ``run_id`` logged, looked up by its name among the run's objects (never on disk)."""
        if _split(tagged) is None:
            raise UsageError(f"{tagged!r} is not an artifact version: name one as NAME:vN")
        digest = ObjectIndex(self.db).find(run_id, FILE_ROLE, file_tag(tagged, path))
        if digest is None:
            raise NotFoundError(f"run {run_id} logged no file {path!r} in artifact {tagged}: "
                                "the run that logged a version serves its files")
        return digest

    def _of_run(self, run_id: str, *roles: str) -> dict[str, list[ArtifactVersion]]:
        rows = self.db.query(
            "SELECT o.role, o.name, o.hash, b.size FROM run_objects o "
            "JOIN objects b ON b.hash = o.hash WHERE o.run_id = ? AND o.role IN ("
            + ", ".join("?" * len(roles)) + ") ORDER BY o.name", (run_id, *roles))
        found: dict[str, list[ArtifactVersion]] = {role: [] for role in roles}
        named: dict[str, ArtifactVersions] = {}  # each name's versions, read once
        for row in rows:
            split = _split(row["name"])
            if split is None:
                continue
            if split[0] not in named:
                named[split[0]] = self.versions(split[0])
            version = named[split[0]].find(row["hash"])
            if version is None:  # its logging run was replaced (a re-import): the manifest stays
                manifest = self._manifest(row["hash"])
                version = ArtifactVersion(split[0], split[1], None, None, row["hash"],
                                          int(row["size"]), float(manifest.get("logged_at", 0)),
                                          manifest)
            found[row["role"]].append(version)
        return found

    def _manifest(self, digest: str) -> dict[str, Any]:
        manifest: dict[str, Any] = json.loads(self.objects.get(digest))
        return manifest


def next_number(db: Database, name: str) -> int:
    """One past the highest number of ``name`` in the lab (0 for a new name)."""
    prefix = f"{name}:v"
    rows = db.query("SELECT name FROM run_objects WHERE role = ? AND substr(name, 1, ?) = ?",
                    (MANIFEST_ROLE, len(prefix), prefix))
    numbers = [split[1] for r in rows if (split := _split(r["name"])) and split[0] == name]
    return max(numbers) + 1 if numbers else 0
