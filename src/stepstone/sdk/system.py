"""System metrics: a sampler thread that records what the machine does while a run trains.

Every ``interval`` seconds (10 by default, like wandb) the thread reads the host through
psutil and, when a GPU and its driver are present, each GPU through NVML (the
``nvidia-ml-py`` package, an optional extra), and queues one sample of ``system/*`` keys
behind the run's metrics. The training thread is never touched: ``log()`` does not know the
sampler exists, and a probe that fails stops sampling that probe, never the run.

A sample is stored as points of ``system/*`` series whose step is the sample's number
(0, 1, 2 ...) and whose time is when it was taken: time is their axis, not the training step
(``history(stream="events")`` in the read API, the dashboard's system panel). The keys:

- ``system/cpu_percent`` (the host), ``system/proc_cpu_percent`` (this process; above 100
  when it uses several cores), ``system/proc_rss_mb``, ``system/memory_percent``,
  ``system/memory_available_gb``, ``system/disk_percent`` (the disk of the working directory);
- ``system/disk_read_mb``, ``system/disk_write_mb``, ``system/network_sent_mb``,
  ``system/network_recv_mb``: megabytes since the sampler started;
- per GPU ``i``: ``system/gpu/i/utilization_percent``, ``memory_used_mb``, ``memory_percent``,
  ``power_w`` and ``temperature_c``.

``stepstone.init(system_metrics=...)`` or ``STEPSTONE_SYSTEM_METRICS`` sets the interval in
seconds; ``False``, ``0`` or ``off`` turns the sampler off. A command started by the launcher
(``stepstone run``, a ladder's rungs) is sampled by the launcher (:func:`sample_process`),
whether or not it imports stepstone; a script that attaches to that run does not sample too.
"""

from __future__ import annotations

import math
import os
import sys
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from stepstone.errors import UsageError
from stepstone.sdk.writer import Op, Writer
from stepstone.store.metrics import Series, is_system_key

if TYPE_CHECKING:
    from stepstone.store.lab import Lab

DEFAULT_INTERVAL = 10.0
ENV = "STEPSTONE_SYSTEM_METRICS"
LAUNCHER_ENV = "STEPSTONE_SYSTEM_BY_LAUNCHER"
"""Set by the launcher in the command's environment: it samples that process itself."""
_OFF = ("0", "off", "false", "no", "none")
_MB = 1024.0 * 1024.0


def sampling_interval(setting: float | bool | None = None,
                      environ: Mapping[str, str] | None = None) -> float | None:
    """Seconds between samples, or None for off: ``setting`` (True means the default), else
    ``STEPSTONE_SYSTEM_METRICS`` (of ``environ``, default the process's), else every 10 s. A
    value that is not a positive number of seconds or ``off`` is a UsageError."""
    if setting is None:
        raw = (os.environ if environ is None else environ).get(ENV, "").strip()
        if not raw:
            return DEFAULT_INTERVAL
        if raw.lower() in _OFF:
            return None
        try:
            value = float(raw)
        except ValueError:
            raise UsageError(f"{ENV}={raw!r}: give a number of seconds between samples "
                             "(e.g. 10), or off") from None
        return _positive(value, f"{ENV}={raw!r}")
    if setting is True:
        return DEFAULT_INTERVAL
    if setting is False:
        return None
    if isinstance(setting, (int, float)):
        return None if setting == 0 else _positive(float(setting), f"system_metrics={setting!r}")
    raise UsageError(f"system_metrics={setting!r}: give seconds between samples, "
                     "True (every 10 s) or False (off)")


def wandb_stats_setting(settings: Any) -> float | bool | None:
    """What wandb's ``settings`` (a ``wandb.Settings`` or a dict) say about system metrics:
    ``x_disable_stats`` turns them off, ``x_stats_sampling_interval`` sets the interval; None
    when they say nothing."""
    if settings is None:
        return None

    def read(name: str) -> Any:
        if isinstance(settings, dict):
            return settings.get(name)
        return getattr(settings, name, None)

    if read("x_disable_stats") or read("_disable_stats"):
        return False
    interval = read("x_stats_sampling_interval")
    return float(interval) if isinstance(interval, (int, float)) and interval > 0 else None


def _positive(value: float, what: str) -> float:
    if not value > 0 or value == float("inf"):
        raise UsageError(f"{what}: the interval must be a positive number of seconds, or off")
    return value


class Probe(Protocol):
    """One source of system metrics: ``sample()`` returns ``system/*`` keys and numbers."""

    def sample(self) -> dict[str, float]: ...


def launcher_samples() -> bool:
    """Whether the launcher that started this process samples it (see :data:`LAUNCHER_ENV`)."""
    return bool(os.environ.get(LAUNCHER_ENV))


class HostProbe:
    """CPU, memory, disk and network of this machine, and CPU and memory of one process (this
    one unless ``pid`` says another), through psutil."""

    def __init__(self, psutil: Any, disk_path: str = ".", pid: int | None = None) -> None:
        self._psutil = psutil
        self._process = psutil.Process(pid)
        self._disk_path = disk_path
        self._process.cpu_percent(None)  # the first reading of a cpu_percent is meaningless
        psutil.cpu_percent(None)
        self._disk0 = self._disk()
        self._net0 = self._net()

    def _disk(self) -> tuple[float, float] | None:
        try:
            counters = self._psutil.disk_io_counters()
        except Exception:  # some containers hide /proc/diskstats
            return None
        return None if counters is None else (counters.read_bytes, counters.write_bytes)

    def _net(self) -> tuple[float, float] | None:
        try:
            counters = self._psutil.net_io_counters()
        except Exception:
            return None
        return None if counters is None else (counters.bytes_sent, counters.bytes_recv)

    def sample(self) -> dict[str, float]:
        psutil = self._psutil
        memory = psutil.virtual_memory()
        out = {
            "system/cpu_percent": float(psutil.cpu_percent(None)),
            "system/proc_cpu_percent": float(self._process.cpu_percent(None)),
            "system/proc_rss_mb": self._process.memory_info().rss / _MB,
            "system/memory_percent": float(memory.percent),
            "system/memory_available_gb": memory.available / (_MB * 1024.0),
        }
        try:
            out["system/disk_percent"] = float(psutil.disk_usage(self._disk_path).percent)
        except OSError:  # the working directory went away
            pass
        disk, net = self._disk(), self._net()
        if disk is not None and self._disk0 is not None:
            out["system/disk_read_mb"] = (disk[0] - self._disk0[0]) / _MB
            out["system/disk_write_mb"] = (disk[1] - self._disk0[1]) / _MB
        if net is not None and self._net0 is not None:
            out["system/network_sent_mb"] = (net[0] - self._net0[0]) / _MB
            out["system/network_recv_mb"] = (net[1] - self._net0[1]) / _MB
        return out


class GpuProbe:
    """Each GPU's utilisation, memory, power and temperature, through NVML."""

    def __init__(self, nvml: Any) -> None:
        self._nvml = nvml
        count = nvml.nvmlDeviceGetCount()
        self._handles = [nvml.nvmlDeviceGetHandleByIndex(i) for i in range(count)]

    def sample(self) -> dict[str, float]:
        out: dict[str, float] = {}
        for index, handle in enumerate(self._handles):
            key = f"system/gpu/{index}/"
            for name in ("utilization_percent", "power_w", "temperature_c", "memory"):
                try:
                    out.update({key + k: v for k, v in self._read(name, handle).items()})
                except self._nvml.NVMLError:  # a reading this GPU does not give (e.g. power)
                    pass
        return out

    def _read(self, name: str, handle: Any) -> dict[str, float]:
        nvml = self._nvml
        if name == "utilization_percent":
            return {name: float(nvml.nvmlDeviceGetUtilizationRates(handle).gpu)}
        if name == "power_w":
            return {name: nvml.nvmlDeviceGetPowerUsage(handle) / 1000.0}
        if name == "temperature_c":
            return {name: float(nvml.nvmlDeviceGetTemperature(handle,
                                                              nvml.NVML_TEMPERATURE_GPU))}
        memory = nvml.nvmlDeviceGetMemoryInfo(handle)
        return {"memory_used_mb": memory.used / _MB,
                "memory_percent": 100.0 * memory.used / memory.total if memory.total else 0.0}


def host_probe(pid: int | None = None) -> HostProbe | None:
    """The psutil probe (of process ``pid``, default this one), or None where psutil is not
    installed or the process is gone."""
    try:
        import psutil
    except ImportError:
        return None
    try:
        return HostProbe(psutil, pid=pid)
    except psutil.Error:  # the process ended before its first sample
        return None


def gpu_probe() -> GpuProbe | None:
    """The NVML probe when ``nvidia-ml-py`` is installed and a driver with at least one GPU
    answers; None otherwise (no GPU, no driver, no package), without a word: a machine
    without a GPU is not an error."""
    try:
        import pynvml
    except ImportError:
        return None
    try:
        pynvml.nvmlInit()
        probe = GpuProbe(pynvml)
    except pynvml.NVMLError:
        return None
    return probe if probe._handles else None


def default_probes(pid: int | None = None) -> list[Probe]:
    return [p for p in (host_probe(pid), gpu_probe()) if p is not None]


Emit = Callable[[int, float, dict[str, float]], None]
OPEN_PROBES_AFTER = 1.0  # seconds into a run before the sampler loads psutil and NVML


class Sampler(threading.Thread):
    """Takes a sample from every probe every ``interval`` seconds and hands it to ``emit``
    as (sample number, time, values). The probes are opened on this thread (psutil and NVML
    load here, not in ``init()``), once the run has lasted ``OPEN_PROBES_AFTER`` seconds (or
    the interval, if shorter): a short run's end does not share the interpreter with their
    loading. A probe that raises is dropped, with one note."""

    def __init__(self, emit: Emit, interval: float, probes: Sequence[Probe] | None = None,
                 name: str = "stepstone-system", pid: int | None = None) -> None:
        super().__init__(name=name, daemon=True)
        self.interval = interval
        self.probes: list[Probe] | None = None if probes is None else list(probes)
        self._pid = pid
        self.samples = 0
        self._emit = emit
        self._stop_event = threading.Event()
        self._emitting = threading.Lock()  # stop() waits on a sample being handed over, no more

    def run(self) -> None:
        wait = self.interval
        if self.probes is None:  # a run that ends within this wait never loads psutil or NVML
            opening = min(self.interval, OPEN_PROBES_AFTER)
            if self._stop_event.wait(opening):
                return
            self.probes = default_probes(self._pid)
            wait = max(self.interval - opening, opening)  # the first sample still on time
        while self.probes and not self._stop_event.wait(wait):
            self.take()
            wait = self.interval

    def take(self) -> None:
        """Take one sample now (the thread calls it every interval)."""
        values: dict[str, float] = {}
        for probe in list(self.probes or ()):
            try:
                values.update(probe.sample())
            except Exception as exc:
                assert self.probes is not None
                self.probes.remove(probe)
                print(f"stepstone: system metrics from {type(probe).__name__} stopped: "
                      f"{type(exc).__name__}: {exc}", file=sys.stderr)
        with self._emitting:
            if values and not self._stop_event.is_set():
                self._emit(self.samples, time.time(), values)
                self.samples += 1

    def stop(self) -> None:
        """Stop sampling: once this returns, nothing more is emitted (a run shorter than the
        interval has no sample, as in wandb). It does not wait for the thread, which may still
        be opening its probes or reading a sample: that sample is dropped, and the thread ends
        on its own (a run's ``finish()`` must not wait for psutil or NVML to load)."""
        with self._emitting:
            self._stop_event.set()


def start_sampler(emit: Emit, interval: float | None, name: str = "stepstone-system",
                  probes: Sequence[Probe] | None = None, pid: int | None = None
                  ) -> Sampler | None:
    """A started sampler (None when ``interval`` is None: off); ``probes`` default to
    psutil's (of process ``pid``, default this one) and NVML's, those available."""
    if interval is None:
        return None
    sampler = Sampler(emit, interval, probes, name=name, pid=pid)
    sampler.start()
    return sampler


def sample_process(database: str | Path, run_id: str, pid: int,
                   interval: float | None) -> Callable[[], None]:
    """Sample process ``pid`` (a command the launcher started) into run ``run_id`` every
    ``interval`` seconds, through a writer of its own; return the function that stops it and
    writes what is left."""
    if interval is None:
        return lambda: None
    writer = Writer(database, run_id, interval=1.0)
    writer.start()
    sampler = start_sampler(lambda *sample: writer.queue.append(Op("system", sample)), interval,
                            name=f"stepstone-system-{run_id}", pid=pid)

    def stop() -> None:
        if sampler is not None:
            sampler.stop()
        writer.close()

    return stop


def split_keys(keys: Sequence[str]) -> tuple[list[str], list[str]]:
    """``keys`` parted into (training metrics, system metrics), each in the given order."""
    return ([k for k in keys if not is_system_key(k)], [k for k in keys if is_system_key(k)])


def system_table(history: Mapping[str, Series]) -> list[dict[str, Any]]:
    """Per system key: how many samples, the last value, the mean and the max (finite values)."""
    rows = []
    for key in sorted(history):
        values = [v for v in history[key].values if math.isfinite(v)]
        if not values:
            continue
        rows.append({"key": key, "samples": len(history[key]), "last": values[-1],
                     "mean": math.fsum(values) / len(values), "max": max(values)})
    return rows


def read_system(lab: Lab, run_id: str) -> dict[str, Series]:
    """The run's system series (``system/*``), read from the lab."""
    _, keys = split_keys(lab.metrics.keys(run_id))
    return lab.metrics.history(run_id, keys) if keys else {}
