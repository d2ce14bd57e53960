"""Sweeps: every engine on a tiny 3-point sweep, failures, resume, bad input, batched == unbatched."""

from __future__ import annotations

import json
import math
import shutil
import sys
from pathlib import Path

import pytest
import yaml

import nstlib
from nstlib.ui.cli import main
from nstlib.record.runs import read_csv, read_json

from conftest import ROOT, make_image

NOTEBOOK = ROOT / "notebooks" / "style_transfer.ipynb"
TINY = {"image_size": 32, "epochs": 2, "save_every": 0, "video": False, "weights": "original"}
WEIGHTS = [100.0, 1000.0, 10000.0]


def tiny_sweep(images, runs: Path, **extra) -> dict:
    base = {
        **TINY,
        "content": str(images["content"]),
        "style": [str(images["style"])],
        "runs_dir": str(runs),
        **extra.pop("base", {}),
    }
    return {"name": "tiny", "base": base, "axes": {"style_weight": ["1e2", "1e3", "1e4"]}, **extra}


def write_sweep(path: Path, data: dict) -> Path:
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    return path


def sweep_folder(runs: Path) -> Path:
    (folder,) = [p for p in runs.iterdir() if p.is_dir()]
    return folder


def check_sweep(folder: Path, statuses=("done",) * 3) -> list[dict]:
    """The sweep folder's layout and index; returns index.csv's rows."""
    assert (folder / "sweep.yaml").is_file() and (folder / "grid.png").is_file() and (folder / "grid.pdf").is_file()
    rows = read_csv(folder / "index.csv")
    assert [r["status"] for r in rows] == list(statuses)
    assert [float(r["style_weight"]) for r in rows] == WEIGHTS
    assert [r["folder"] for r in rows] == ["01_style_weight=100", "02_style_weight=1e3", "03_style_weight=1e4"]
    jsonl = [json.loads(line) for line in (folder / "index.jsonl").read_text().splitlines()]
    assert [j["status"] for j in jsonl] == list(statuses)
    for row, status in zip(rows, statuses):
        point = folder / row["folder"]
        assert read_json(point / "config.json")["status"] == status
        if status == "done":
            assert (point / "final.png").is_file() and (point / "losses.csv").is_file()
            for column in ("final_png_total", "final_png_content", "final_png_style", "final_iterate_total"):
                assert math.isfinite(float(row[column]))
            assert float(row["wall_time_s"]) > 0 and row["error"] == ""
            record = read_json(point / "config.json")
            assert int(row["steps_run"]) == record["steps_run"] <= record["config"]["epochs"]
            for name, value in record["metrics"].items():  # one column per metric, as config.json has it
                assert row[name] == ("" if value is None else f"{value:.9g}")
            assert math.isfinite(float(row["content_distance"])) and math.isfinite(float(row["colour_distance"]))
        else:
            assert row["error"]
    return rows


@pytest.fixture(scope="module")
def inprocess_sweep(tmp_path_factory, images, original_weights):
    """One in-process (batched) sweep, shared by the tests that only read it; returns (folder, result, stdout)."""
    runs = tmp_path_factory.mktemp("inprocess") / "runs"
    result = nstlib.sweep(tiny_sweep(images, runs, base={"precision": "fp32"}))
    return result.folder, result


def test_inprocess_sweep(inprocess_sweep):
    folder, result = inprocess_sweep
    assert result.ok and folder.parent.name == "runs" and folder.name.endswith("_sweep-tiny")
    check_sweep(folder)
    saved = yaml.safe_load((folder / "sweep.yaml").read_text())
    assert saved["axes"] == {"style_weight": WEIGHTS} and saved["base"]["image_size"] == 32


def test_batched_matches_unbatched(inprocess_sweep, images, tmp_path, monkeypatch):
    folder, batched = inprocess_sweep
    calls = []
    transfer_module = sys.modules["nstlib.run.transfer"]
    real = transfer_module.transfer_batch

    def counting(configs, **kw):
        calls.append(len(configs))
        return real(configs, **kw)

    monkeypatch.setattr(transfer_module, "transfer_batch", counting)
    single = nstlib.sweep(tiny_sweep(images, tmp_path / "runs", base={"precision": "fp32"}), batch=False, verbose=False)
    assert calls == [1, 1, 1]
    for a, b in zip(batched.rows, single.rows):
        for key in ("total", "content", "style"):
            assert a["final_losses"][key] == pytest.approx(b["final_losses"][key], rel=1e-3)


def test_inprocess_batches_compatible_points(images, tmp_path, monkeypatch, capsys):
    calls = []
    transfer_module = sys.modules["nstlib.run.transfer"]
    real = transfer_module.transfer_batch
    monkeypatch.setattr(
        transfer_module, "transfer_batch", lambda configs, **kw: calls.append(len(configs)) or real(configs, **kw)
    )
    # a second content image of another size cannot share the batch
    other = make_image(tmp_path / "square.png", (48, 48), 4)
    data = tiny_sweep(images, tmp_path / "runs")
    data["axes"] = {"content": [str(images["content"]), str(other)], "style_weight": [1e2, 1e4]}
    path = write_sweep(tmp_path / "two_axes.yaml", data)
    assert main(["sweep", str(path)]) == 0
    assert sorted(calls) == [2, 2]
    out = capsys.readouterr().out
    assert "[4/4] content=square, style_weight=1e4 done" in out
    folder = sweep_folder(tmp_path / "runs")
    rows = read_csv(folder / "index.csv")
    assert [r["folder"] for r in rows] == [
        "01_content=content__style_weight=100",
        "02_content=content__style_weight=1e4",
        "03_content=square__style_weight=100",
        "04_content=square__style_weight=1e4",
    ]
    assert (folder / "grid.png").is_file()


def test_failed_point_recorded_and_others_finish(images, tmp_path, capsys):
    """A style image that exists but is truncated passes validation and fails at run time, alone."""
    big = make_image(tmp_path / "big.jpg", (300, 300), 5)
    broken = tmp_path / "broken.jpg"
    broken.write_bytes(big.read_bytes()[: big.stat().st_size // 3])
    data = tiny_sweep(images, tmp_path / "runs")
    data["axes"] = {"style": [[str(images["style"])], [str(broken)], [str(images["style2"])]]}
    path = write_sweep(tmp_path / "failing.yaml", data)
    assert main(["sweep", str(path), "--set", "epochs=1"]) == 1
    out = capsys.readouterr().out
    assert "style=broken failed" in out
    folder = sweep_folder(tmp_path / "runs")
    rows = read_csv(folder / "index.csv")
    assert [r["status"] for r in rows] == ["done", "failed", "done"]
    assert "ImageError" in rows[1]["error"] and "broken.jpg" in rows[1]["error"]
    assert read_json(folder / rows[1]["folder"] / "config.json")["status"] == "failed"
    assert all(read_json(folder / r["folder"] / "config.json")["config"]["epochs"] == 1 for r in rows)
    assert (folder / "grid.png").is_file()


def test_resume_reruns_only_unfinished_points(inprocess_sweep, tmp_path, capsys):
    source, _ = inprocess_sweep
    folder = tmp_path / source.name
    shutil.copytree(source, folder)  # copy2 keeps the mtimes
    rows = read_csv(folder / "index.csv")
    shutil.rmtree(folder / rows[0]["folder"])  # point 1: folder gone
    info = read_json(folder / rows[1]["folder"] / "config.json")
    info["status"] = "running"  # point 2: killed mid-run
    (folder / rows[1]["folder"] / "config.json").write_text(json.dumps(info))
    kept = folder / rows[2]["folder"] / "final.png"
    mtime = kept.stat().st_mtime_ns
    assert main(["sweep", "--resume", str(folder)]) == 0
    out = capsys.readouterr().out
    assert "(1 already done)" in out and "style_weight=1e4 done" not in out
    assert kept.stat().st_mtime_ns == mtime
    check_sweep(folder)
    assert len([p for p in folder.parent.iterdir()]) == 1  # no new sweep folder


def test_resume_checks_done_points_against_an_edited_sweep_yaml(inprocess_sweep, tmp_path, capsys):
    source, _ = inprocess_sweep
    folder = tmp_path / source.name
    shutil.copytree(source, folder)
    saved = folder / "sweep.yaml"
    saved.write_text(saved.read_text().replace("epochs: 2\n", "epochs: 3\n"))
    rows = read_csv(folder / "index.csv")
    mtimes = [(folder / r["folder"] / "final.png").stat().st_mtime_ns for r in rows]
    assert main(["sweep", "--resume", str(folder)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "Traceback" not in err
    assert "point 01_style_weight=100 ran with other parameters" in err and "epochs 2 → 3" in err
    assert "(and 2 more points)" in err and "--rerun-changed" in err
    assert [(folder / r["folder"] / "final.png").stat().st_mtime_ns for r in rows] == mtimes  # nothing touched
    assert main(["sweep", "--resume", str(folder), "--rerun-changed"]) == 0
    assert "(0 already done)" in capsys.readouterr().out
    for row in check_sweep(folder):
        assert read_json(folder / row["folder"] / "config.json")["config"]["epochs"] == 3
        assert read_csv(folder / row["folder"] / "losses.csv")[-1]["epoch"] == "3"  # ran 3 steps, not 2


def test_resume_refuses_a_different_sweep(inprocess_sweep, images, tmp_path):
    folder, _ = inprocess_sweep
    other = write_sweep(tmp_path / "other.yaml", tiny_sweep(images, tmp_path / "runs", base={"epochs": 3}))
    assert main(["sweep", str(other), "--resume", str(folder)]) == 2
    assert main(["sweep", "--resume", str(tmp_path)]) == 2


@pytest.mark.parametrize(
    "mutate, message",
    [
        (
            lambda d: d["base"].update(style_wieght=1.0),
            "base: unknown parameter 'style_wieght' (did you mean style_weight?)",
        ),
        (lambda d: d["axes"].update(content_layer=["relu1_2"]), "unknown parameter 'content_layer'"),
        (
            lambda d: d["axes"].update(style_weight=["1e2", "abc"]),
            "point 2 (style_weight=abc): style_weight: expected a number",
        ),
        (lambda d: d["axes"].update(pooling=["avg", "mean"]), "pooling: 'mean' is not one of avg, max"),
        (lambda d: d.update(axes={}), "axes: empty"),
        (lambda d: d.update(zip={"lr": [1, 2], "epochs": [1]}), "zip: lists of unequal length"),
        (lambda d: d["base"].update(content="missing.jpg"), "content: 'missing.jpg': file not found"),
        (lambda d: d.update(axis={"lr": [1]}), "unknown key 'axis' (did you mean axes?)"),
    ],
)
def test_bad_sweep_file_exits_2_and_creates_nothing(images, tmp_path, capsys, mutate, message):
    data = tiny_sweep(images, tmp_path / "runs")
    mutate(data)
    path = write_sweep(tmp_path / "bad.yaml", data)
    assert main(["sweep", str(path)]) == 2
    err = capsys.readouterr().err
    assert len(err.strip().splitlines()) == 1 and err.startswith("nst: error: ") and message in err, err
    assert not (tmp_path / "runs").exists()


def test_malformed_yaml_and_bad_set(images, tmp_path, capsys):
    bad = tmp_path / "bad.yaml"
    bad.write_text("name: x\naxes:\n  style_weight: [1, 2\n  lr: 3\n")
    assert main(["sweep", str(bad)]) == 2
    err = capsys.readouterr().err
    assert "malformed YAML at line" in err and len(err.strip().splitlines()) == 1
    good = write_sweep(tmp_path / "good.yaml", tiny_sweep(images, tmp_path / "runs"))
    for args, message in (
        (["--set", "epochs=many"], "epochs: expected an integer"),
        (["--set", "epochs"], "expected name=value"),
        (["--set", "style_weight=1"], "is an axis of this sweep"),
    ):
        assert main(["sweep", str(good), *args]) == 2
        assert message in capsys.readouterr().err
    assert not (tmp_path / "runs").exists()


def test_axis_values_may_set_several_parameters(images, tmp_path):
    from nstlib.sweep import load_sweep

    data = tiny_sweep(images, tmp_path / "runs")
    data["axes"] = {
        "init": ["content", {"init": "noise", "seed": 1}, {"init": "noise", "seed": 2}],
        "style_weight": [1, 10],
    }
    data["zip"] = {"lr": [0.5, 1.0], "epochs": [4, 2]}
    spec = load_sweep(data)
    assert len(spec.points) == 12
    assert spec.points[5].label == "init=noise, seed=1, style_weight=1, lr=1, epochs=2"
    assert spec.points[5].config.seed == 1 and spec.points[5].config.epochs == 2
    assert spec.axis_titles == ["init", "style_weight", "lr, epochs"]
    assert spec.axis_values[0] == ["content", "noise, seed=1", "noise, seed=2"]
    assert len({p.folder for p in spec.points}) == 12
    assert not (tmp_path / "runs").exists()


def test_bundled_sweeps_are_valid():
    from nstlib.sweep import load_sweep

    files = sorted((ROOT / "sweeps").glob("*.yaml"))
    assert {f.stem for f in files} >= {"style_weight", "lr", "epochs", "content_layer", "init"}
    for f in files:  # a search's points are its trials, asked as it runs
        spec = load_sweep(f)
        assert spec.points or (spec.sampling is not None and spec.sampling.search is not None)
    assert len(load_sweep(ROOT / "sweeps" / "init.yaml").points) == 6


def test_dask_engine(images, tmp_path, original_weights, capsys):
    pytest.importorskip("distributed")
    path = write_sweep(tmp_path / "tiny.yaml", tiny_sweep(images, tmp_path / "runs"))
    assert main(["sweep", str(path), "--engine", "dask"]) == 0  # LocalCluster, 2 worker processes
    assert capsys.readouterr().out.count(" done ") == 3
    check_sweep(sweep_folder(tmp_path / "runs"))


@pytest.mark.skipif(not NOTEBOOK.is_file(), reason=f"{NOTEBOOK.relative_to(ROOT)} not found (written separately)")
def test_papermill_engine(images, tmp_path):
    pytest.importorskip("papermill")
    big = make_image(tmp_path / "big.jpg", (300, 300), 5)
    broken = tmp_path / "broken.jpg"
    broken.write_bytes(big.read_bytes()[: big.stat().st_size // 3])
    data = tiny_sweep(images, tmp_path / "runs")
    data["axes"] = {"style": [[str(images["style"])], [str(broken)], [str(images["style2"])]]}
    result = nstlib.sweep(data, engine="papermill", verbose=False)
    assert [r["status"] for r in result.rows] == ["done", "failed", "done"]
    assert result.rows[1]["error"].startswith("ImageError: ")
    for row in result.rows:
        assert (result.folder / row["folder"] / "notebook.ipynb").is_file()
    assert (result.folder / "grid.png").is_file()
