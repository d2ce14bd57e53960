"""Atomic file writes (a reader never sees a half-written file, a crash never leaves one) and JSON/CSV helpers."""

from __future__ import annotations

import contextlib
import csv
import errno
import io
import json
import os
import stat
import tempfile
from pathlib import Path
from types import TracebackType
from typing import Any

from nstlib.errors import quoted


class atomic_target:
    """Context manager giving a temporary path beside `path`, renamed over it on success."""

    def __init__(self, path: str | os.PathLike[str]):
        self.path = Path(path)
        self.tmp = self.path

    def __enter__(self) -> Path:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd, name = tempfile.mkstemp(prefix=f".{self.path.stem}.", suffix=self.path.suffix, dir=self.path.parent)
        os.close(fd)
        self.tmp = Path(name)
        return self.tmp

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        if exc_type is None:
            os.chmod(self.tmp, 0o666 & ~_umask())  # mkstemp makes 0600; others on a shared disk must read runs
            os.replace(self.tmp, self.path)
        else:
            self.tmp.unlink(missing_ok=True)


def atomic_write_bytes(path: str | os.PathLike[str], data: bytes) -> None:
    with atomic_target(path) as tmp:
        tmp.write_bytes(data)


def atomic_write_text(path: str | os.PathLike[str], text: str) -> None:
    atomic_write_bytes(path, text.encode())


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


FILE_KINDS = {
    stat.S_IFIFO: "a FIFO",
    stat.S_IFSOCK: "a socket",
    stat.S_IFCHR: "a character device",
    stat.S_IFBLK: "a block device",
}


def file_problem(path: str | os.PathLike[str]) -> str | None:
    """Why `path` is not a readable, non-empty regular file, in a few words; None if it is one.

    Checked before opening: opening a FIFO would wait for a writer forever, and Path.exists() reports a
    symlink loop as a missing file."""
    try:
        st = os.stat(path)
    except FileNotFoundError:
        return "a broken symlink (its target does not exist)" if os.path.islink(path) else "file not found"
    except OSError as e:
        if e.errno == errno.ELOOP:
            return "a symlink loop"
        if e.errno == errno.ENOTDIR:
            return "file not found (a parent is not a folder)"
        return f"cannot read it ({e.strerror or e})"
    if stat.S_ISDIR(st.st_mode):
        return "is a directory, not a file"
    if not stat.S_ISREG(st.st_mode):
        return f"not a regular file ({FILE_KINDS.get(stat.S_IFMT(st.st_mode), 'a special file')})"
    if st.st_size == 0:
        return "empty file (0 bytes)"
    if not os.access(path, os.R_OK):
        return "cannot read it (permission denied)"
    return None


def write_json(path: Path, data: Any) -> None:
    atomic_write_text(path, json.dumps(data, indent=2, default=str) + "\n")


def read_json(path: Path) -> dict[str, Any]:
    data = json.loads(Path(path).read_text())
    if not isinstance(data, dict):
        raise ValueError(f"{quoted(path)}: expected a JSON object")
    return data


def write_csv(path: Path, rows: list[dict[str, Any]]) -> None:
    """Rows as CSV, columns in first-seen order across all rows; floats with 9 significant digits."""
    columns = list(dict.fromkeys(c for row in rows for c in row))
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=columns, lineterminator="\n")
    writer.writeheader()
    for row in rows:
        writer.writerow({k: (f"{v:.9g}" if isinstance(v, float) else v) for k, v in row.items()})
    atomic_write_text(path, buffer.getvalue())


def read_csv(path: Path) -> list[dict[str, str]]:
    with open(path, newline="") as f:
        return list(csv.DictReader(f))


class FolderLock:
    """An exclusive lock on a folder, held by one process at a time (a `.nst.lock` file, flock'ed).

    The OS drops the lock when its process dies, so a killed run never leaves a folder locked.
    """

    NAME = ".nst.lock"

    def __init__(self, folder: str | os.PathLike[str], what: str = "this folder"):
        self.folder, self.what = Path(folder), what
        self.fd: int | None = None

    def acquire(self) -> FolderLock:
        import fcntl

        from nstlib.errors import UserError

        path = self.folder / self.NAME
        fd = os.open(path, os.O_CREAT | os.O_RDWR, 0o666)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.read(fd, 32).decode(errors="replace").strip() or "?"
            os.close(fd)
            raise UserError(
                f"{quoted(self.folder)}: {self.what} is in use by another nst process (pid {holder}); "
                "wait for it to finish or stop it"
            ) from None
        os.ftruncate(fd, 0)
        os.write(fd, str(os.getpid()).encode())
        self.fd = fd
        return self

    def release(self) -> None:
        if self.fd is None:
            return
        import fcntl

        with contextlib.suppress(OSError):
            (self.folder / self.NAME).unlink()
        fcntl.flock(self.fd, fcntl.LOCK_UN)
        os.close(self.fd)
        self.fd = None

    def __enter__(self) -> FolderLock:
        return self.acquire()

    def __exit__(self, *exc: object) -> None:
        self.release()
