"""Ctrl-C that cannot cut a record in half: `deferred_interrupts` holds SIGINT while a record is written."""

from __future__ import annotations

import contextlib
import signal
import threading
from collections.abc import Iterator
from types import FrameType


class Interrupted(KeyboardInterrupt):
    """Ctrl-C after the run folders in `folders` were marked interrupted (for the CLI's message)."""

    def __init__(self, folders: list[str]):
        super().__init__()
        self.folders = folders


@contextlib.contextmanager
def deferred_interrupts() -> Iterator[None]:
    """Within the block, Ctrl-C is noted, not raised; a noted one is raised when the block ends.

    Only the main thread receives signals, so elsewhere (a widget's worker thread) this does nothing.
    """
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    noted: list[int] = []

    def note(signum: int, frame: FrameType | None) -> None:
        noted.append(signum)

    previous = signal.signal(signal.SIGINT, note)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)
    if noted:
        raise KeyboardInterrupt
