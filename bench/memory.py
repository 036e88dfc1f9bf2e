"""Peak resident memory of this process and its children, sampled from a background thread."""

from __future__ import annotations

import resource
import threading
from pathlib import Path

try:
    import psutil
except ImportError:  # then only the kernel's high-water marks are available, see PeakMemory
    psutil = None

SAMPLE_SECONDS = 0.02


def own_peak_bytes() -> int:
    """This process's peak RSS since it started (``VmHWM``).

    Not ``ru_maxrss``: Linux carries that over from the parent through fork and exec, so a
    worker started by a big harness process would report the harness's size.
    """
    for line in Path("/proc/self/status").read_text(encoding="utf-8").splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) * 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024  # not Linux: best effort


def current_rss_bytes() -> int:
    """This process's resident memory now (``VmRSS``)."""
    for line in Path("/proc/self/status").read_text(encoding="utf-8").splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    return own_peak_bytes()  # not Linux: the high-water mark is the best figure there is


class PeakMemory:
    """Track the peak summed RSS of this process tree while the ``with`` block runs.

    Sampling with psutil catches worker processes (Whoosh ``procs``, multiprocessing pools)
    running at the same time; pages shared between them count once per process, so the figure
    errs high. This process's own high-water mark is still taken into account (a short spike can
    fall between two samples). Without psutil the peak is this process's high-water mark plus
    the largest child's ``ru_maxrss``.
    """

    def __init__(self) -> None:
        self.peak_bytes = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._sample, daemon=True)

    def __enter__(self) -> PeakMemory:
        if psutil is not None:
            self._thread.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        if psutil is None:
            children = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss * 1024
            self.peak_bytes = own_peak_bytes() + children
            return
        self._stop.set()
        self._thread.join()
        self.peak_bytes = max(self.peak_bytes, own_peak_bytes())

    def _sample(self) -> None:
        me = psutil.Process()
        while True:
            total = 0
            for process in [me, *me.children(recursive=True)]:
                try:
                    total += process.memory_info().rss
                except psutil.Error:  # the child ended between listing and reading
                    pass
            self.peak_bytes = max(self.peak_bytes, total)
            if self._stop.wait(SAMPLE_SECONDS):
                return
