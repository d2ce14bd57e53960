"""Progress: text lines off a terminal, every sample of a batch, an ETA."""

from __future__ import annotations

import io
import re

from nstlib.run.progress import Progress, duration


def row(total: float) -> dict:
    return {"total": total, "content": total / 2, "style": total / 2, "tv": 0.0}


def test_auto_falls_back_to_text_lines_off_a_terminal():
    out = io.StringIO()  # not a TTY, not Jupyter
    p = Progress("auto", 100, 10, stream=out)
    p.update(10, [row(4.5e6)])
    p.update(20, [row(3.0e6)])
    p.close()
    text = out.getvalue()
    assert p.bar is None and "\r" not in text
    lines = text.splitlines()
    assert len(lines) == 2 and lines[1].startswith("step 20/100  total 3e+06")
    assert re.search(r"ETA \d+s$", lines[1])


def test_a_batch_shows_every_sample_labelled():
    out = io.StringIO()
    p = Progress("text", 100, 10, ["style_weight=0.01", "style_weight=1e4"], stream=out)
    p.update(10, [row(4.496e6), row(7.1e12)])
    p.update(20, [None, row(6.0e12)])  # the first sample stopped (NaN)
    first, line1, line2 = out.getvalue().splitlines()
    assert first == "batch of 2: [1] style_weight=0.01  [2] style_weight=1e4"
    assert "[1] 4.5e+06 [2] 7.1e+12" in line1 and "[1] stopped [2] 6e+12" in line2


def test_duration_format():
    assert [duration(s) for s in (5, 65, 3725)] == ["5s", "1m05s", "1h02m"]
