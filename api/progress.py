"""A dependency-free progress bar for long CLI work, drawn on stderr."""

from __future__ import annotations

import sys
import time


class Progress:
    def __init__(self, total: int, label: str, *, stream: object = None, width: int = 30):
        self.total = max(total, 1)
        self.label = label
        self.done = 0
        self.width = width
        self.stream = stream or sys.stderr
        self.started = time.perf_counter()
        self._last_draw = 0.0
        self.enabled = getattr(self.stream, "isatty", lambda: False)()

    def advance(self, n: int = 1) -> None:
        self.done += n
        now = time.perf_counter()
        if self.enabled and (now - self._last_draw > 0.1 or self.done >= self.total):
            self._last_draw = now
            filled = int(self.width * min(self.done, self.total) / self.total)
            rate = self.done / max(now - self.started, 1e-9)
            bar = "#" * filled + "-" * (self.width - filled)
            print(
                f"\r{self.label} [{bar}] {self.done}/{self.total} ({rate:,.0f}/s)",
                end="",
                file=self.stream,  # type: ignore[arg-type]
                flush=True,
            )

    def close(self) -> None:
        elapsed = time.perf_counter() - self.started
        end = "\n" if self.enabled else ""
        print(
            f"{end}{self.label}: {self.done} in {elapsed:.1f}s",
            file=self.stream,  # type: ignore[arg-type]
            flush=True,
        )
