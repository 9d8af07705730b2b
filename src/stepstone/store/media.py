"""How a run's media files are named, and which files TensorBoard's summaries hold.

A media file is stored with its run under role ``media`` as ``<key>@<step><suffix>``, or
``<key>@<step>-<index><suffix>`` when one step logs several under one key; the dashboard's
media panel and ``/api/runs/ID/media`` read the key and step back from the name. The live
TensorBoard mirror (``init(sync_tensorboard=True)``) and ``stepstone import tensorboard``
both name the images and sounds of TensorBoard's summaries by these rules, so a run shows the
same files whichever way it came in.
"""

from __future__ import annotations

# the files TensorBoard's audio summaries hold, by their content type
_AUDIO_TYPES = {"audio/wav": ".wav", "audio/x-wav": ".wav", "audio/wave": ".wav",
                "audio/mpeg": ".mp3", "audio/flac": ".flac", "audio/ogg": ".ogg"}
_GIF = b"GIF8"  # the first bytes of a GIF, what add_video writes in an image summary


def media_name(key: str, step: int, suffix: str, index: int | None = None) -> str:
    """The name of a media file of ``key`` at ``step`` (``index``: which of several)."""
    tail = "" if index is None else f"-{index}"
    return f"{key}@{step}{tail}{suffix}"


def image_suffix(data: bytes) -> str:
    """The suffix of the encoded image a TensorBoard image summary holds: a PNG
    (``add_image``), or a GIF (``add_video``)."""
    return ".gif" if data.startswith(_GIF) else ".png"


def audio_suffix(content_type: str) -> str | None:
    """The suffix of the sound a TensorBoard audio summary holds, None for a type no
    browser plays."""
    return _AUDIO_TYPES.get(content_type)


__all__ = ["audio_suffix", "image_suffix", "media_name"]
