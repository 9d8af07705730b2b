"""``stepstone.Audio`` and ``stepstone.Video`` (wandb's): arrays encoded as WAV and animated GIF
and read back, files stored byte for byte, bad input refused at the constructor, and the
dashboard's run page playing them from the lab with their captions."""

from __future__ import annotations

import io
import wave
from pathlib import Path
from typing import Any

import pytest

import stepstone
from stepstone.errors import MetricValueError, UsageError
from stepstone.integrations import wandb_compat
from stepstone.sdk import media
from stepstone.sdk.gif import lzw
from stepstone.store import open_lab

np = pytest.importorskip("numpy")
PILImage = pytest.importorskip("PIL.Image")
torch = pytest.importorskip("torch")


def _wav(data: bytes) -> tuple[tuple[int, int, int], Any]:
    """(channels, sample width, rate) and the samples (frames×channels) of a WAV file."""
    with wave.open(io.BytesIO(data)) as read:
        params = (read.getnchannels(), read.getsampwidth(), read.getframerate())
        frames = np.frombuffer(read.readframes(read.getnframes()), dtype="<i2")
    return params, frames.reshape(-1, params[0])


def _gif(data: bytes) -> tuple[Any, list[int], int | None]:
    """The frames (T×H×W×3), each frame's duration in ms and the loop count of a GIF."""
    image = PILImage.open(io.BytesIO(data))
    assert image.format == "GIF" and data.startswith(b"GIF89a") and b"NETSCAPE2.0" in data
    frames, durations = [], []
    for index in range(image.n_frames):
        image.seek(index)
        frames.append(np.asarray(image.convert("RGB")))
        durations.append(image.info["duration"])
    return np.stack(frames), durations, image.info.get("loop")


def _logged(lab: Path, values: dict, step: int = 3) -> dict[str, bytes]:
    """Log ``values`` at ``step`` in a new run and read its media back through the read API."""
    run = stepstone.init(project="media", lab=str(lab))
    run.log(values, step=step)
    run.finish()
    read = stepstone.Api(lab=str(lab)).run(run.id)
    return {f.name: read.file(f.name, role="media").read()
            for f in read.files() if f.role == "media"}


# -- Audio ------------------------------------------------------------------------------------


def test_audio_arrays_are_16_bit_wav_files_read_back_with_wave(lab: Path) -> None:
    time = np.arange(1600) / 16000
    mono = 0.5 * np.sin(2 * np.pi * 440 * time)
    stereo = np.stack([mono, -mono], axis=1).astype(np.float32)
    pcm = (np.arange(-800, 800) * 40).astype(np.int16)
    files = _logged(lab, {"tone": stepstone.Audio(mono, sample_rate=16000, caption="a"),
                          "pair": [stepstone.Audio(torch.tensor(stereo), sample_rate=8000),
                                   stepstone.Audio(pcm, sample_rate=22050)]})
    assert sorted(files) == ["pair@3-0.wav", "pair@3-1.wav", "tone@3.wav"]
    params, samples = _wav(files["tone@3.wav"])
    assert params == (1, 2, 16000)
    assert np.array_equal(samples[:, 0], np.rint(mono * 32767).astype(np.int16))
    params, samples = _wav(files["pair@3-0.wav"])
    assert params == (2, 2, 8000)
    assert np.array_equal(samples, np.rint(stereo.astype(np.float64) * 32767).astype(np.int16))
    params, samples = _wav(files["pair@3-1.wav"])
    assert params == (1, 2, 22050) and np.array_equal(samples[:, 0], pcm)


def test_audio_outside_the_range_is_clipped_and_said_once(
        capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(media, "_said", set())
    loud = stepstone.Audio([0.0, 2.0, -3.0, 0.5, float("nan")], sample_rate=100)
    stepstone.Audio(np.array([4.0, 1.0]), sample_rate=100)
    _, samples = _wav(loud.encode())
    assert samples[:, 0].tolist() == [0, 32767, -32767, 16384, 0]
    assert capsys.readouterr().err.count("outside [-1, 1] are clipped") == 1


@pytest.mark.parametrize("suffix", [".wav", ".MP3", ".flac", ".ogg"])
def test_an_audio_file_is_stored_byte_for_byte(lab: Path, tmp_path: Path, suffix: str) -> None:
    path = tmp_path / f"clip{suffix}"
    path.write_bytes(bytes(range(256)) * 3)
    files = _logged(lab, {"clip": stepstone.Audio(path, sample_rate=123)})
    assert files == {f"clip@3{suffix.lower()}": path.read_bytes()}


def test_bad_audio_is_refused_at_the_constructor(lab: Path, tmp_path: Path) -> None:
    run = stepstone.init(project="media", lab=str(lab))
    with pytest.raises(UsageError, match=r"sample rate .*Audio\(samples, sample_rate=16000\)"):
        run.log({"a": stepstone.Audio(np.zeros(10))})
    for rate in (0, 1.5, "16k", True):
        with pytest.raises(UsageError, match="sample_rate=16000"):
            stepstone.Audio(np.zeros(10), sample_rate=rate)
    with pytest.raises(MetricValueError, match=r"shape \(2, 100\).*\.T turns"):
        stepstone.Audio(np.zeros((2, 100)), sample_rate=100)
    for shape in [(0,), (4, 4, 4)]:
        with pytest.raises(MetricValueError, match="an audio array has shape"):
            stepstone.Audio(np.zeros(shape), sample_rate=100)
    with pytest.raises(MetricValueError, match="cannot be stored as sound"):
        stepstone.Audio(np.array(["a", "b"]), sample_rate=100)
    with pytest.raises(UsageError, match="not a file"):
        stepstone.Audio(tmp_path / "missing.wav")
    (tmp_path / "notes.txt").write_text("hi")
    with pytest.raises(UsageError, match=r"give a \.wav, \.mp3, \.flac, \.ogg file"):
        stepstone.Audio(str(tmp_path / "notes.txt"))
    run.finish()
    assert stepstone.Api(lab=str(lab)).run(run.id).files(pattern="a@%") == []


# -- Video ------------------------------------------------------------------------------------


def test_a_video_array_is_an_animated_gif_that_decodes_to_its_frames(lab: Path) -> None:
    rng = np.random.default_rng(0)
    few = (rng.integers(0, 4, (5, 3, 9, 13)) * 85).astype(np.uint8)  # 64 colours: exact
    many = rng.integers(0, 256, (3, 3, 16, 20), dtype=np.uint8)  # more than 256: the cube
    gray = rng.random((4, 1, 6, 6))  # floats in [0, 1], one channel
    files = _logged(lab, {"few": stepstone.Video(few, fps=10),
                          "clips": [stepstone.Video(many), stepstone.Video(torch.tensor(gray))]})
    assert sorted(files) == ["clips@3-0.gif", "clips@3-1.gif", "few@3.gif"]
    frames, durations, loop = _gif(files["few@3.gif"])
    assert np.array_equal(frames, few.transpose(0, 2, 3, 1))
    assert durations == [100] * 5 and loop == 0
    frames, durations, _ = _gif(files["clips@3-0.gif"])
    error = np.abs(frames.astype(int) - many.transpose(0, 2, 3, 1))
    assert durations == [250] * 3  # wandb's 4 frames a second
    assert error.max(axis=(0, 1, 2)).tolist() <= [26, 22, 26] and error.mean() < 16
    frames, _, _ = _gif(files["clips@3-1.gif"])
    expected = np.rint(gray[:, 0] * 255).astype(np.uint8)
    assert all(np.array_equal(frames[..., c], expected) for c in range(3))


def test_a_batch_of_videos_is_tiled_into_a_grid() -> None:
    videos = np.zeros((3, 2, 4, 5, 7), dtype=np.uint8)  # N, T, C (RGBA), H, W
    for n in range(3):
        videos[n, :, :3] = 60 * (n + 1)
        videos[n, 1, 0] = 250
        videos[n, :, 3] = 7  # alpha, dropped
    frames, _, _ = _gif(stepstone.Video(videos, fps=2).encode())
    assert frames.shape == (2, 10, 14, 3)  # 2×2 cells, the fourth black
    for n, (row, col) in enumerate([(0, 0), (0, 1), (1, 0)]):
        cell = frames[:, row * 5:(row + 1) * 5, col * 7:(col + 1) * 7]
        assert np.array_equal(cell, videos[n, :, :3].transpose(0, 2, 3, 1))
    assert not frames[:, 5:, 7:].any()


@pytest.mark.parametrize("pixels", [1, 255, 256, 257, 510, 511, 512, 513, 4000, 80_000])
def test_lzw_codes_widen_and_reset_where_a_decoder_expects(pixels: int) -> None:
    """Runs long and short around the 9-, 10-, 11- and 12-bit edges and a full table."""
    rng = np.random.default_rng(pixels)
    width = 400 if pixels % 400 == 0 else pixels
    for row in (rng.integers(0, 256, pixels), np.arange(pixels) % 256,
                rng.integers(0, 2, pixels), np.zeros(pixels, dtype=int)):
        gray = row.astype(np.uint8).reshape(1, 1, -1, width)  # one frame, one channel
        frames, _, _ = _gif(stepstone.Video(gray).encode())
        assert np.array_equal(frames[0, ..., 0].ravel(), row)
    assert lzw(b"\x05")[:2] == bytes([0x00, 0x0B])  # clear (256), then 5, in 9 bits each


@pytest.mark.parametrize(("suffix", "stored"), [
    (".mp4", ".mp4"), (".webm", ".webm"), (".GIF", ".gif"), (".ogg", ".ogv")])
def test_a_video_file_is_stored_byte_for_byte(lab: Path, tmp_path: Path, suffix: str,
                                             stored: str) -> None:
    path = tmp_path / f"episode{suffix}"
    path.write_bytes(bytes(range(255, -1, -1)) * 2)
    as_bytes = stepstone.Video(io.BytesIO(path.read_bytes()), format=stored[1:].replace("ogv",
                                                                                         "ogg"))
    files = _logged(lab, {"episode": stepstone.Video(path, fps=30), "copy": as_bytes})
    assert files == {f"episode@3{stored}": path.read_bytes(), f"copy@3{stored}": path.read_bytes()}


def test_a_video_array_asked_for_as_mp4_is_a_gif_said_once(
        capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(media, "_said", set())
    frames = np.zeros((2, 3, 4, 4), dtype=np.uint8)
    for _ in range(2):
        video = stepstone.Video(frames, format="mp4")
        assert video.suffix == ".gif" and video.encode().startswith(b"GIF89a")
    assert capsys.readouterr().err.count("asked for as mp4 is stored as an animated GIF") == 1


def test_bad_video_is_refused_at_the_constructor(lab: Path, tmp_path: Path) -> None:
    run = stepstone.init(project="media", lab=str(lab))
    with pytest.raises(MetricValueError, match=r"a video array has shape \(3, 4, 4\)"):
        run.log({"v": stepstone.Video(np.zeros((3, 4, 4)))})
    for shape in [(2, 5, 4, 4), (0, 3, 4, 4), (1, 1, 2, 3, 4, 4)]:
        with pytest.raises(MetricValueError, match="give frames T×C×H×W or N×T×C×H×W"):
            stepstone.Video(np.zeros(shape))
    with pytest.raises(MetricValueError, match="larger than a GIF holds"):
        stepstone.Video(np.zeros((1, 1, 1, 70_000), dtype=np.uint8))
    for fps in (0, -1, float("inf"), "4"):
        with pytest.raises(UsageError, match="fps must be a positive number"):
            stepstone.Video(np.zeros((1, 3, 2, 2)), fps=fps)
    with pytest.raises(UsageError, match="format 'avi' is not one of gif, mp4, webm, ogg"):
        stepstone.Video(np.zeros((1, 3, 2, 2)), format="avi")
    with pytest.raises(UsageError, match="needs its format"):
        stepstone.Video(io.BytesIO(b"..."))
    with pytest.raises(UsageError, match="not a file"):
        stepstone.Video(tmp_path / "missing.mp4")
    (tmp_path / "clip.avi").write_bytes(b"RIFF")
    with pytest.raises(UsageError, match=r"give a \.gif, \.mp4, \.webm, \.ogg file"):
        stepstone.Video(tmp_path / "clip.avi")
    run.finish()
    assert stepstone.Api(lab=str(lab)).run(run.id).files(pattern="v@%") == []


def test_the_wandb_names_are_stepstones() -> None:
    assert wandb_compat.Audio is stepstone.Audio is media.Audio
    assert wandb_compat.Video is stepstone.Video is media.Video
    assert {"Audio", "Video"} <= set(wandb_compat.__all__)


# -- the dashboard ----------------------------------------------------------------------------


def test_the_run_page_plays_audio_and_video_served_from_the_lab(lab: Path,
                                                               tmp_path: Path) -> None:
    pytest.importorskip("fastapi")
    from fastapi.testclient import TestClient

    from stepstone.web.app import create_app

    movie = tmp_path / "walk.mp4"
    movie.write_bytes(b"\x00\x00\x00\x18ftypmp42 not really")
    drawing = tmp_path / "plot.svg"
    drawing.write_text("<svg xmlns='http://www.w3.org/2000/svg'><script>alert(1)</script></svg>")
    run = stepstone.init(project="media", lab=str(lab))
    for step in range(5):
        run.log({"val/sound <b>": stepstone.Audio(np.zeros(80), sample_rate=8000,
                                                  caption=f"tone <{step}>"),
                 "rollout": stepstone.Video(np.full((2, 3, 4, 4), step * 50, dtype=np.uint8)),
                 "table": stepstone.Table(columns=["a"], data=[[step]])}, step=step)
    run.log({"walk": stepstone.Video(movie, caption="walk, café"),
             "plot": stepstone.Image(drawing, caption=7)}, step=9)
    run.finish()
    client = TestClient(create_app(lab))
    page = client.get(f"/runs/{run.id}").text
    section = page[page.index('<section id="media">'):]
    section = section[:section.index("</section>")]
    base = f"/api/runs/{run.id}/media?name="
    assert "val/sound &lt;b&gt;" in section and "<b>" not in section
    assert f'<audio controls preload="none" src="{base}val/sound%20%3Cb%3E%404.wav">' in section
    assert f'<img src="{base}rollout%404.gif"' in section
    assert f'<video controls preload="none" src="{base}walk%409.mp4">' in section
    assert f'<a href="{base}table%404.table.json">' in section
    assert "rollout%401.gif" not in section and "5 steps, the latest 3 shown" in section
    assert f'<a href="{base}plot%409.svg">' in section and "<img" not in section.split(
        "plot%409.svg")[0].rsplit("<figure", 1)[1]
    got = client.get(f"{base}val/sound%20%3Cb%3E%404.wav")
    assert got.headers["content-type"] == "audio/wav" and _wav(got.content)[0] == (1, 2, 8000)
    got = client.get(f"{base}rollout%402.gif")
    assert got.headers["content-type"] == "image/gif"
    assert (_gif(got.content)[0] == 100).all()
    got = client.get(f"{base}walk%409.mp4")
    assert got.headers["content-type"] == "video/mp4" and got.content == movie.read_bytes()
    size = len(got.content)
    for asked, (start, end) in [("bytes=2-5", (2, 5)), ("bytes=4-", (4, size - 1)),
                                ("bytes=-3", (size - 3, size - 1)), ("bytes=5-999", (5, size - 1))]:
        part = client.get(f"{base}walk%409.mp4", headers={"Range": asked})
        assert part.status_code == 206 and part.content == got.content[start:end + 1]
        assert part.headers["content-range"] == f"bytes {start}-{end}/{size}"
    assert client.get(f"{base}walk%409.mp4", headers={"Range": "bytes=999-"}).status_code == 416
    got = client.get(f"{base}plot%409.svg")  # a page of its own, never shown inline
    assert got.headers["content-type"] == "application/octet-stream"
    assert got.headers["content-disposition"] == "attachment; filename*=utf-8''plot%409.svg"
    assert got.headers["x-content-type-options"] == "nosniff"
    assert client.get(f"{base}..%2F..%2Flab.db").status_code == 404
    assert client.get(base).status_code == 400  # an empty name
    # captions: stored beside their files, shown under them (escaped), listed by the API
    assert section.count('<span class="caption">') == 5
    assert '<span class="caption">tone &lt;4&gt;</span>' in section
    assert '<span class="caption">walk, café</span>' in section
    assert '<span class="caption">7</span>' in section
    listed = client.get(f"/api/runs/{run.id}/media").json()
    assert listed["run"] == run.id and len(listed["media"]) == 17
    assert listed["media"][0] == {"key": "plot", "step": 9, "name": "plot@9.svg",
                                  "kind": "file", "caption": "7"}
    sounds = [m for m in listed["media"] if m["kind"] == "audio"]
    assert [(m["step"], m["caption"]) for m in sounds] == [(s, f"tone <{s}>") for s in range(5)]
    assert {m["caption"] for m in listed["media"] if m["key"] in ("rollout", "table")} == {None}
    api_file = stepstone.Api(lab=str(lab)).run(run.id).file("walk@9.mp4.caption.txt")
    assert api_file.role == "caption" and api_file.read() == "walk, café".encode()
    # a caption whose object is lost: its file still shows, without it
    with open_lab(lab) as opened:
        opened.objects.path(api_file.hash).unlink()
    section = client.get(f"/runs/{run.id}").text.split('<section id="media">')[1]
    assert "walk, café" not in section and f'src="{base}walk%409.mp4"' in section
