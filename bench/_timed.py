"""Run one command, timestamp each stdout line as it arrives, and report the child's peak RSS.

    python bench/_timed.py --json OUT.json [--log LOG] -- COMMAND ...

A fresh process per measured command, so resource.getrusage(RUSAGE_CHILDREN).ru_maxrss is the peak
RSS of that command alone (the largest of it and its waited-for descendants). Times are seconds
from just before the command is started. The command's stderr goes to LOG.stderr (or is discarded).
Writes {"cmd", "rc", "wall_s", "lines": [[t, text], ...], "peak_rss_mb"} to OUT.json.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import time


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--json", required=True, help="where to write the timings")
    parser.add_argument("--log", help="copy of the command's stdout (stderr goes to LOG.stderr)")
    parser.add_argument("--cwd", help="working directory of the command")
    parser.add_argument("command", nargs=argparse.REMAINDER)
    args = parser.parse_args(argv)
    command = args.command[1:] if args.command[:1] == ["--"] else args.command
    if not command:
        parser.error("no command given")
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    stderr = open(args.log + ".stderr", "w") if args.log else subprocess.DEVNULL
    log = open(args.log, "w") if args.log else None
    lines: list[tuple[float, str]] = []
    t0 = time.perf_counter()
    try:
        proc = subprocess.Popen(
            command,
            stdout=subprocess.PIPE,
            stderr=stderr,
            env=env,
            cwd=args.cwd,
            text=True,
            bufsize=1,
            errors="replace",
        )
    except OSError as e:
        result = {"cmd": command, "rc": 127, "wall_s": 0.0, "lines": [], "peak_rss_mb": 0.0, "error": str(e)}
    else:
        assert proc.stdout is not None
        for line in proc.stdout:
            t = time.perf_counter() - t0
            lines.append((round(t, 4), line.rstrip("\n")))
            if log:
                log.write(f"{t:9.3f}  {line}")
                log.flush()
        rc = proc.wait()
        wall = time.perf_counter() - t0
        peak_kb = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss  # KiB on Linux
        result = {
            "cmd": command,
            "rc": rc,
            "wall_s": round(wall, 4),
            "lines": lines,
            "peak_rss_mb": round(peak_kb / 1024, 1),
        }
    finally:
        if log:
            log.close()
        if stderr is not subprocess.DEVNULL:
            stderr.close()
    with open(args.json, "w") as f:
        json.dump(result, f)
    return 0


if __name__ == "__main__":
    sys.exit(main())
