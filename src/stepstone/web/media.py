"""A run's media on the dashboard: the files logged as ``Image``, ``Audio``, ``Video``,
``Table`` and ``Histogram`` (role ``media``, name ``<key>@<step><suffix>``), served from the
lab with a content type fixed by their suffix, listed with their captions, and grouped by
key for the run page."""

from __future__ import annotations

import re
from typing import Any

from fastapi import APIRouter, Depends, Header, Query
from fastapi.responses import Response

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
_RANGE = re.compile(r"bytes=(\d*)-(\d*)")
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
              byte_range: str | None = Header(None, alias="range"),
              lab: Lab = Depends(lab_of)) -> Response | dict[str, Any]:
    """Without ``name``: every media file of the run (key, step, name, kind, caption), by
    key and step. With it: that file, looked up by its stored name (never a path on disk);
    one byte range of it when asked (players seek with them, Safari's will not play
    without)."""
    record = lab.runs.get(ref)
    if name is None:
        captions = _Captions(lab, record.id)
        return {"run": record.id, "media": [
            {"key": key, "step": step, **_file(n, captions)}
            for key, steps in sorted(_by_key(lab, record.id).items())
            for step in sorted(steps) for n in sorted(steps[step])]}
    data = lab.run_object(record.id, "media", name)
    content_type = CONTENT_TYPES.get(_suffix(name))
    if content_type is None:
        return Response(data, media_type="application/octet-stream",
                        headers={"Content-Disposition": "attachment"})
    asked = _RANGE.fullmatch(byte_range.strip()) if byte_range else None
    if asked is None or not (asked[1] or asked[2]):
        return Response(data, media_type=content_type, headers={"Accept-Ranges": "bytes"})
    size = len(data)
    if asked[1]:
        start, end = int(asked[1]), min(int(asked[2] or size - 1), size - 1)
    else:  # the last N bytes
        start, end = max(size - int(asked[2]), 0), size - 1
    if start > end:
        return Response(status_code=416, headers={"Content-Range": f"bytes */{size}"})
    return Response(data[start:end + 1], status_code=206, media_type=content_type,
                    headers={"Accept-Ranges": "bytes",
                             "Content-Range": f"bytes {start}-{end}/{size}"})
