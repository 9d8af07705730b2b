"""An animated GIF (GIF89a) from RGB frames, for :class:`stepstone.sdk.media.Video`: one
palette of at most 256 colours for every frame (the video's own colours when it has no more
than 256, else a fixed 6×7×6 cube), LZW-compressed frames, a frame delay from the frame rate,
and a NETSCAPE2.0 extension that loops forever. Needs numpy, nothing else."""

from __future__ import annotations

import struct
from typing import Any

MAX_CODE = 4096  # LZW codes are at most 12 bits
CUBE = (6, 7, 6)  # levels of red, green, blue in the fixed palette (252 colours)


def encode_gif(frames: Any, fps: float) -> bytes:
    """The GIF of ``frames`` (a T×H×W×3 uint8 numpy array) shown at ``fps`` frames a second
    (a delay of 100/fps hundredths of a second, at least 2: browsers slow down faster GIFs)."""
    palette, indices = quantize(frames)
    _, height, width = indices.shape
    delay = max(2, round(100 / fps))
    out = bytearray(b"GIF89a")
    out += struct.pack("<HHBBB", width, height, 0xF7, 0, 0)  # a global table of 256 colours
    out += palette.ljust(768, b"\x00")
    out += b"\x21\xff\x0bNETSCAPE2.0\x03\x01\x00\x00\x00"  # loop forever
    for frame in indices:
        out += b"\x21\xf9\x04" + struct.pack("<BHBB", 0x04, delay, 0, 0)  # keep, no transparency
        out += b"\x2c" + struct.pack("<HHHHB", 0, 0, width, height, 0)
        out += b"\x08" + _sub_blocks(lzw(frame.tobytes()))
    out += b"\x3b"
    return bytes(out)


def quantize(frames: Any) -> tuple[bytes, Any]:
    """The palette (RGB triples) and each pixel's index in it: exact when the frames hold at
    most 256 colours, else the nearest level of the 6×7×6 cube in each channel (off by at
    most 26 in red and blue, 22 in green)."""
    import numpy as np

    rgb = frames.astype(np.uint32)
    packed = (rgb[..., 0] << 16) | (rgb[..., 1] << 8) | rgb[..., 2]
    colours, inverse = np.unique(packed, return_inverse=True)
    if colours.size <= 256:
        palette = np.stack([colours >> 16, (colours >> 8) & 255, colours & 255], axis=1)
        return palette.astype(np.uint8).tobytes(), inverse.reshape(packed.shape).astype(np.uint8)
    steps = [np.rint(frames[..., c] * ((n - 1) / 255)).astype(np.uint8)
             for c, n in enumerate(CUBE)]
    indices = (steps[0] * CUBE[1] + steps[1]) * CUBE[2] + steps[2]
    levels = [np.rint(np.arange(n) * (255 / (n - 1))) for n in CUBE]
    grid = np.stack(np.meshgrid(*levels, indexing="ij"), axis=-1).reshape(-1, 3)
    return grid.astype(np.uint8).tobytes(), indices


def lzw(data: bytes) -> bytes:
    """GIF's variable-width LZW code stream of 8-bit pixels (codes packed from the low bit
    up), with a clear code first and whenever the 12-bit table is full."""
    clear, end = 256, 257
    table: dict[int, int] = {}
    get = table.get
    next_code, width = end + 1, 9
    out = bytearray()
    bits, count = clear, 9  # the pending bits, low first, and how many
    prefix = data[0]  # a frame has at least one pixel
    for byte in data[1:]:
        key = prefix << 8 | byte
        code = get(key)
        if code is not None:
            prefix = code
            continue
        bits |= prefix << count
        count += width
        if next_code < MAX_CODE:
            table[key] = next_code
            if next_code == 1 << width:
                width += 1
            next_code += 1
        else:  # the table is full: start again
            bits |= clear << count
            count += width
            table.clear()
            next_code, width = end + 1, 9
        if count >= 32:
            out += (bits & 0xFFFFFFFF).to_bytes(4, "little")
            bits >>= 32
            count -= 32
        prefix = byte
    bits |= prefix << count
    count += width
    if next_code == 1 << width and next_code < MAX_CODE:
        width += 1  # the decoder widened its codes with the entry it made for this one
    bits |= end << count
    count += width
    out += bits.to_bytes((count + 7) // 8, "little")
    return bytes(out)


def _sub_blocks(data: bytes) -> bytes:
    """Data as GIF sub-blocks: a length byte and up to 255 bytes each, then an empty one."""
    out = bytearray()
    for start in range(0, len(data), 255):
        chunk = data[start:start + 255]
        out.append(len(chunk))
        out += chunk
    out.append(0)
    return bytes(out)
