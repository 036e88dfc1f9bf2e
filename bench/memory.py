"""Peak resident memory of this process and its children, sampled from a background thread."""

from __future__ import annotations

import resource
import threading

import psutil

SAMPLE_SECONDS = 0.02


class PeakMemory:
    """Track the peak summed RSS of this process tree while the ``with`` block runs.

    Sampling catches worker processes (Whoosh ``procs``, multiprocessing pools) that
    ``ru_maxrss`` would only report one at a time; ``ru_maxrss`` of this process is still taken
    into account, since a short spike can fall between two samples.
    """

    def __init__(self) -> None:
        self.peak_bytes = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._sample, daemon=True)
        self._process = psutil.Process()

    def __enter__(self) -> PeakMemory:
        self._thread.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self._stop.set()
        self._thread.join()
        # ru_maxrss is in kilobytes on Linux.
        self_peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
        self.peak_bytes = max(self.peak_bytes, self_peak)

    def _sample(self) -> None:
        while True:
            total = 0
            for process in [self._process, *self._process.children(recursive=True)]:
                try:
                    total += process.memory_info().rss
                except psutil.Error:  # the child ended between listing and reading
                    pass
            self.peak_bytes = max(self.peak_bytes, total)
            if self._stop.wait(SAMPLE_SECONDS):
                return
