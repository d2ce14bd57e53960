"""The trade-off view: one marker per point done with metrics, at its index values, the front marked; PNG and PDF."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from nstlib.record.metrics import METRIC_NAMES
from nstlib.record.runs import RunFolder, read_csv
from nstlib.sweep.folder import SweepFolder, read_point, save_spec
from nstlib.sweep.spec import resolve
from nstlib.sweep.tradeoff import save_tradeoff, tradeoff_figure
from nstlib.ui.cli import main

from conftest import make_image

# (content distance, Gram distance) per point; None: the point failed
GIVEN = [(0.02, 0.8), (0.1, 0.5), (0.3, 0.6), (0.9, 0.1), (0.9, 0.1), None]


@pytest.fixture
def sweep_folder(tmp_path, images):
    """A sweep folder whose points' run records are written directly (no runs), with final.png images."""
    data = {
        "name": "made",
        "base": {"content": str(images["content"]), "style": [str(images["style"])]},
        "axes": {"style_weight": [1, 10, 100, 1000, 1000.5, 1e4]},
    }
    spec = resolve(data)
    folder = tmp_path / "sweep"
    folder.mkdir()
    save_spec(folder, spec)
    for p, xy in zip(spec.points, GIVEN):
        run = RunFolder(folder / p.folder, p.config.to_dict())
        if xy is None:
            run.finish("failed", "diverged")
            continue
        make_image(folder / p.folder / "final.png", (48, 40), p.number)
        metrics = {name: 0.5 for name in METRIC_NAMES}
        run.save_metrics({**metrics, "content_distance": xy[0], "gram_distance": xy[1], "w2_distance": 1 - xy[1]})
        run.finish("done")
    state = SweepFolder(spec, folder, print)
    state.states = {p.number: read_point(folder / p.folder) for p in spec.points}
    state.write_index()
    return folder, spec


def plotted(fig) -> dict[str, np.ndarray]:
    ax = fig.axes[0]
    return {c.get_gid(): np.asarray(c.get_offsets()) for c in ax.collections if c.get_gid()}


def test_one_marker_per_point_at_its_index_values(sweep_folder):
    folder, spec = sweep_folder
    fig = tradeoff_figure(folder, spec)
    markers = plotted(fig)
    rows = [r for r in read_csv(folder / "index.csv") if r["status"] == "done"]
    drawn = sorted(map(tuple, np.concatenate(list(markers.values()))))
    assert drawn == sorted((float(r["content_distance"]), float(r["gram_distance"])) for r in rows)
    front = sorted(map(tuple, markers["pareto=True"]))
    assert front == sorted(
        (float(r["content_distance"]), float(r["gram_distance"])) for r in rows if r["pareto"] == "True"
    )
    assert front == [(0.02, 0.8), (0.1, 0.5), (0.9, 0.1), (0.9, 0.1)]  # (0.3, 0.6) is beaten by (0.1, 0.5)
    labels = sorted(t.get_text() for t in fig.axes[0].texts)
    assert labels == sorted(["1", "10", "100", "1e3", "1000.5"])  # the failed point (1e4) is not drawn
    step = fig.axes[0].lines[0]  # the front as a step line through the front's points
    assert list(step.get_xdata()) == [0.02, 0.1, 0.9, 0.9] and step.get_drawstyle() == "steps-post"


def test_style_metric_and_thumbnails(sweep_folder):
    folder, spec = sweep_folder
    spec.tradeoff = {"style": "w2_distance", "thumbnails": True}
    fig = tradeoff_figure(folder, spec)
    ys = sorted(np.concatenate(list(plotted(fig).values()))[:, 1])
    assert ys == pytest.approx(sorted(1 - xy[1] for xy in GIVEN if xy))
    assert "w2_distance" in fig.axes[0].get_ylabel()
    assert len(fig.axes[0].artists) == 5  # one thumbnail per point drawn


def test_files_written_and_refreshed_by_nst_metrics(sweep_folder, capsys, monkeypatch):
    folder, spec = sweep_folder
    written = save_tradeoff(folder, spec)
    assert [p.name for p in written] == ["tradeoff.png", "tradeoff.pdf"]
    with Image.open(folder / "tradeoff.png") as image:
        image.verify()
    assert (folder / "tradeoff.pdf").read_bytes().startswith(b"%PDF")
    (folder / "tradeoff.png").unlink()
    import nstlib.record.metrics as metrics

    monkeypatch.setattr(metrics, "compute_run_metrics", lambda run: metrics.read_metrics(run))  # no VGG here
    assert main(["metrics", str(folder)]) == 0
    with Image.open(folder / "tradeoff.png") as image:
        assert image.size[0] > 300 and image.size[1] > 200
