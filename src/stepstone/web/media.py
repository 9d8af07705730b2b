"""A run's media on the dashboard: the files logged as ``Image``, ``Audio``, ``Video``,
``Table`` and ``Histogram`` (role ``media``, name ``<key>@<step><suffix>``), served from the
lab with a content type fixed by their suffix, listed with their captions, and grouped by
key for the run page."""

from __future__ import annotations

import re
from typing import Any

from fastapi import APIRouter, Depends, Query
from fastapi.responses import FileResponse

from stepstone.errors import NotFoundError
from stepstone.sdk.media import CAPTION_ROLE, caption_name
from stepstone.store.lab import Lab
from stepstone.web.common import lab_of

api_router = APIRouter(prefix="/api")
SHOWN_STEPS = 3  # the run page shows each key's latest steps
# what a browser may show in the page; anything else (an SVG included) is a download
CONTENT_TYPES = {
    ".png": "image/png", ".jpg": "image/jpeg", ".jpeg": "image/jpeg", ".gif": "image/gif",
    ".webp": "image/webp", ".bmp": "image/bmp",
    ".wav": "audio/wav", ".mp3": "audio/mpeg", ".flac": "audio/flac", ".ogg": "audio/ogg",
    ".mp4": "video/mp4", ".webm": "video/webm", ".ogv": "video/ogg",
    ".json": "application/json",
}
_NAME = re.compile(r"(?P<key>.+)@(?P<step>\d+)(?:-(?P<index>\d+))?(?P<suffix>\.[^@]*)?")


def kind_of(name: str) -> str:
    """How the page shows a media file: ``image``, ``audio``, ``video`` or ``file`` (a link)."""
    kind = CONTENT_TYPES.get(_suffix(name), "").split("/")[0]
    return kind if kind in ("image", "audio", "video") else "file"


def _suffix(name: str) -> str:
    tail = name.rsplit("/", 1)[-1]
    return tail[tail.rfind("."):].lower() if "." in tail else ""


def _by_key(lab: Lab, run_id: str) -> dict[str, dict[int, list[str]]]:
    """The names of the run's media files by key and step."""
    keys: dict[str, dict[int, list[str]]] = {}
    for found in lab.run_objects(run_id, "media"):
        match = _NAME.fullmatch(found.name)
        key, step = (match["key"], int(match["step"])) if match else (found.name, -1)
        keys.setdefault(key, {}).setdefault(step, []).append(found.name)
    return keys


class _Captions:
    """The captions of one run's media files, each read from the object store when asked for."""

    def __init__(self, lab: Lab, run_id: str) -> None:
        self._lab = lab
        self._hashes = {o.name: o.hash for o in lab.run_objects(run_id, CAPTION_ROLE)}

    def of(self, name: str) -> str | None:
        digest = self._hashes.get(caption_name(name))
        if digest is None:
            return None
        try:
            return self._lab.objects.get(digest).decode("utf-8", "replace")
        except NotFoundError:  # a damaged object store: the file shows without its caption
            return None


def _file(name: str, captions: _Captions) -> dict[str, Any]:
    return {"name": name, "kind": kind_of(name), "caption": captions.of(name)}


def run_media(lab: Lab, run_id: str) -> list[dict[str, Any]]:
    """The run's media by key: each key's latest ``SHOWN_STEPS`` steps, newest first, with
    their files (name, kind, caption) and how many steps the key has."""
    captions = _Captions(lab, run_id)
    return [{"key": key, "steps": len(steps),
             "shown": [{"step": step, "files": [_file(n, captions) for n in sorted(steps[step])]}
                       for step in sorted(steps, reverse=True)[:SHOWN_STEPS]]}
            for key, steps in sorted(_by_key(lab, run_id).items())]


@api_router.get("/runs/{ref}/media", response_model=None)
def media_api(ref: str, name: str | None = Query(None, min_length=1),
              lab: Lab = Depends(lab_of)) -> FileResponse | dict[str, Any]:
    """Without ``name``: every media file of the run (key, step, name, kind, caption), by
    key and step. With it: that file, looked up by its stored name (never a path on disk),
    as :func:`stored_file` serves it."""
    record = lab.runs.get(ref)
    if name is None:
        captions = _Captions(lab, record.id)
        return {"run": record.id, "media": [
            {"key": key, "step": step, **_file(n, captions)}
            for key, steps in sorted(_by_key(lab, record.id).items())
            for step in sorted(steps) for n in sorted(steps[step])]}
    digest = lab.object_index.find(record.id, "media", name)
    if digest is None:
        raise NotFoundError(f"run {record.id} has no media {name!r}")
    return stored_file(lab, digest, name)


def stored_file(lab: Lab, digest: str, name: str, *, download: bool = False) -> FileResponse:
    """Object ``digest`` of the lab, stored as ``name``: streamed from the object store (a
    checkpoint need not fit in memory), one byte range of it when asked (players seek with
    them, Safari's will not play without; a download resumes with them). A file a browser
    may show in the page goes with its content type; anything else, and anything when
    ``download``, as an attachment named after ``name``."""
    path = lab.objects.path(digest)
    if not path.is_file():
        raise NotFoundError(f"object {digest[:12]} is missing from {lab.objects.root}")
    content_type = CONTENT_TYPES.get(_suffix(name))
    if content_type is None or download:
        return FileResponse(path, media_type=content_type or "application/octet-stream",
                            filename=name.rsplit("/", 1)[-1])
    return FileResponse(path, media_type=content_type)
