"""`nst explore`: the Explorer widget UI served as a web page by Voilà.

Voilà runs a one-cell notebook (written to a temporary folder) in a fresh kernel per browser tab and
shows only its output, the Explorer. The kernel imports the same nstlib as the `nst` that started it
(PYTHONPATH points at this package's parent) and works in the directory `nst explore` was started in,
so the paths a user types mean what they mean on the command line.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from importlib.util import find_spec
from pathlib import Path

from nstlib.errors import UserError

START_TIMEOUT_S = 120.0  # Voilà's first start compiles nothing but imports a lot; a loaded 2-core machine is slow


def free_port(host: str = "127.0.0.1") -> int:
    """A TCP port free on `host` right now."""
    with socket.socket() as s:
        s.bind((host, 0))
        return int(s.getsockname()[1])


def app_notebook(folder: Path, workdir: Path, runs_dir: Path) -> Path:
    """Write the notebook Voilà serves: the Explorer, in `workdir`, writing run folders to `runs_dir`."""
    code = (
        "import os\n"
        f"os.chdir({str(workdir)!r})  # typed paths are relative to where `nst explore` started\n"
        "from nstlib.ui.widgets import Explorer\n"
        f"explorer = Explorer(runs_dir={str(runs_dir)!r}).show()\n"
    )
    notebook = {
        "cells": [{"cell_type": "code", "execution_count": None, "metadata": {}, "outputs": [], "source": code}],
        "metadata": {"kernelspec": {"display_name": "Python 3", "language": "python", "name": "python3"}},
        "nbformat": 4,
        "nbformat_minor": 5,
    }
    path = folder / "NST Lab explorer.ipynb"
    path.write_text(json.dumps(notebook, indent=1))
    return path


def voila_command(notebook: Path, host: str, port: int) -> list[str]:
    return [
        sys.executable,
        "-m",
        "voila",
        str(notebook),
        f"--port={port}",
        f"--Voila.ip={host}",
        "--no-browser",
        "--show_tracebacks=True",  # an error in the app is shown in the page, not only in the server log
    ]


def kernel_env() -> dict[str, str]:
    """The environment of Voilà and its kernels: this nstlib first on the path."""
    package_parent = str(Path(__file__).resolve().parent.parent)
    paths = [package_parent, *[p for p in os.environ.get("PYTHONPATH", "").split(os.pathsep) if p]]
    return {**os.environ, "PYTHONPATH": os.pathsep.join(dict.fromkeys(paths))}


def wait_until_serving(url: str, proc: subprocess.Popen[bytes], log: Path, timeout: float = START_TIMEOUT_S) -> None:
    """Return once `url` answers; raise UserError with Voilà's last log lines if it exits or never answers."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            tail = "\n".join(log.read_text(errors="replace").splitlines()[-15:])
            raise UserError(f"explore: Voilà exited with code {proc.returncode}:\n{tail}")
        try:
            with urllib.request.urlopen(url, timeout=5):
                return
        except (urllib.error.URLError, OSError):
            time.sleep(0.3)
    raise UserError(f"explore: Voilà did not answer at {url} within {timeout:.0f} s (log: {log})")


def colab_hint(port: int) -> str:
    return (
        "On Colab, open it through Colab's proxy: in a cell, "
        f"`from google.colab.output import eval_js; print(eval_js('google.colab.kernel.proxyPort({port})'))`; "
        "or run notebooks/explore.ipynb inline."
    )


def stop(proc: subprocess.Popen[bytes]) -> None:
    """End Voilà (and its kernels) politely, then firmly."""
    if proc.poll() is not None:
        return
    for sig, wait in ((signal.SIGINT, 5.0), (signal.SIGTERM, 5.0)):
        proc.send_signal(sig)
        try:
            proc.wait(wait)
            return
        except subprocess.TimeoutExpired:
            continue
    proc.kill()
    proc.wait()


def _interrupt(signum: int, frame: object) -> None:
    raise KeyboardInterrupt


def serve(host: str, port: int, open_browser: bool, runs_dir: Path) -> int:
    """Serve the explorer until Ctrl-C or SIGTERM (or until Voilà exits); returns the exit code."""
    if find_spec("voila") is None:
        raise UserError("explore: needs Voilà (pip install voila), or use notebooks/explore.ipynb in Jupyter")
    port = port or free_port(host)
    # Voilà runs in its own session, so SIGTERM (and SIGINT, even where a shell's `&` ignored it) must stop it
    previous = {sig: signal.signal(sig, _interrupt) for sig in (signal.SIGTERM, signal.SIGINT)}
    try:
        return _serve(host, port, open_browser, runs_dir)
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


def _serve(host: str, port: int, open_browser: bool, runs_dir: Path) -> int:
    with tempfile.TemporaryDirectory(prefix="nst-explore-") as tmp:
        folder = Path(tmp)
        notebook = app_notebook(folder, Path.cwd(), runs_dir.resolve())
        log = folder / "voila.log"
        with open(log, "wb") as out:
            # its own process group: a Ctrl-C in the terminal reaches nst, which then stops Voilà in order
            proc = subprocess.Popen(
                voila_command(notebook, host, port),
                env=kernel_env(),
                stdout=out,
                stderr=subprocess.STDOUT,
                cwd=folder,
                start_new_session=True,
            )
        try:
            url = f"http://{'127.0.0.1' if host in ('0.0.0.0', '') else host}:{port}/"
            wait_until_serving(url, proc, log)
            print(f"NST Lab explorer: {url}  (Ctrl-C stops it)", flush=True)
            if "COLAB_RELEASE_TAG" in os.environ:
                print(colab_hint(port), flush=True)
            if open_browser:
                import webbrowser

                webbrowser.open(url)
            proc.wait()
            tail = "\n".join(log.read_text(errors="replace").splitlines()[-15:])
            print(f"nst: Voilà stopped (exit {proc.returncode}):\n{tail}", file=sys.stderr)
            return 1
        except KeyboardInterrupt:
            print("stopping the explorer …", flush=True)
            return 0
        finally:
            stop(proc)
