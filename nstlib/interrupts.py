"""Interruptions that cannot cut a record in half.

Ctrl-C (SIGINT) and SIGTERM — what batch schedulers, `timeout`, Kubernetes and Colab's runtime shutdown
send — are both interruptions: `terminate_as_interrupt` turns SIGTERM into a `Terminated` exception
(a KeyboardInterrupt) so every Ctrl-C path also handles it, and `deferred_interrupts` holds both while
a record is written.
"""

from __future__ import annotations

import contextlib
import signal
import threading
from collections.abc import Iterator
from types import FrameType


class Terminated(KeyboardInterrupt):
    """SIGTERM, raised as an interruption."""


class Interrupted(KeyboardInterrupt):
    """An interruption after the run folders in `folders` were marked interrupted (for the CLI's message)."""

    def __init__(self, folders: list[str], terminated: bool = False):
        super().__init__()
        self.folders, self.terminated = folders, terminated


def is_terminated(e: BaseException) -> bool:
    """Whether an interruption came from SIGTERM (raised as `Terminated`, or an `Interrupted` that says so)."""
    return isinstance(e, Terminated) or (isinstance(e, Interrupted) and e.terminated)


def describe(e: BaseException) -> str:
    """The reason a run folder records for an interruption."""
    return "SIGTERM (terminated)" if is_terminated(e) else "KeyboardInterrupt (Ctrl-C)"


def _raise_terminated(signum: int, frame: FrameType | None) -> None:
    raise Terminated


@contextlib.contextmanager
def terminate_as_interrupt() -> Iterator[None]:
    """Within the block, SIGTERM raises `Terminated`, unless someone else already handles SIGTERM (a Jupyter
    kernel, the caller's own handler): only the default handler, which would kill the process and lose the
    records, is replaced. Only the main thread receives signals, so elsewhere this does nothing."""
    if threading.current_thread() is not threading.main_thread() or signal.getsignal(signal.SIGTERM) not in (
        signal.SIG_DFL,
        None,
    ):
        yield
        return
    previous = signal.signal(signal.SIGTERM, _raise_terminated)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


@contextlib.contextmanager
def deferred_interrupts() -> Iterator[None]:
    """Within the block, Ctrl-C and SIGTERM are noted, not raised; a noted one is raised when the block ends.

    Only the main thread receives signals, so elsewhere (a widget's worker thread) this does nothing.
    """
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    noted: list[int] = []

    def note(signum: int, frame: FrameType | None) -> None:
        noted.append(signum)

    previous = {s: signal.signal(s, note) for s in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield
    finally:
        for s, handler in previous.items():
            signal.signal(s, handler)
    if signal.SIGTERM in noted:
        raise Terminated
    if noted:
        raise KeyboardInterrupt
