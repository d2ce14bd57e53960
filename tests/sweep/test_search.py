"""`search:` sweeps: an Optuna study's trials run as batches of ordinary points, and a resume continues it."""

from __future__ import annotations

import sys

import optuna
import pytest

import nstlib.run.transfer  # loaded for counting_batches to patch
from nstlib.record.runs import read_csv, read_json
from nstlib.sweep.search import STUDY, ask, open_study, point_values
from nstlib.sweep.spec import resolve

TINY = {"image_size": 32, "epochs": 1, "save_every": 0, "video": False, "weights": "original", "precision": "fp32"}
SPACE = {"style_weight": {"sample": "log_uniform", "low": 1e2, "high": 1e6}}


def search_sweep(images, runs, **search) -> dict:
    base = {**TINY, "content": str(images["content"]), "style": [str(images["style"])], "runs_dir": str(runs)}
    return {"name": "search", "base": base, "axes": SPACE, "search": {"trials": 4, "batch": 2, **search}, "seed": 3}


def counting_batches(monkeypatch, interrupt_at: int = 0) -> list[int]:
    """The sizes of the batches run through transfer_batch; the call numbered `interrupt_at` is a Ctrl-C."""
    calls: list[int] = []
    transfer_module = sys.modules["nstlib.run.transfer"]
    real = transfer_module.transfer_batch

    def counting(configs, **kw):
        calls.append(len(configs))
        if len(calls) == interrupt_at:
            raise KeyboardInterrupt
        return real(configs, **kw)

    monkeypatch.setattr(transfer_module, "transfer_batch", counting)
    return calls


def test_search_runs_batches_and_resumes(images, tmp_path, monkeypatch, original_weights):
    calls = counting_batches(monkeypatch, interrupt_at=2)
    data = search_sweep(images, tmp_path / "runs")
    with pytest.raises(KeyboardInterrupt):  # killed while its second batch of trials runs
        nstlib.sweep(data, verbose=False)
    assert calls == [2, 2]  # 2 trials asked at a time, each pair one batch through VGG
    (folder,) = (tmp_path / "runs").iterdir()
    study = optuna.load_study(study_name="search", storage=f"sqlite:///{folder / STUDY}")
    states = {t.user_attrs["point"]: t.state.name for t in study.trials}
    assert states == {1: "COMPLETE", 2: "COMPLETE", 3: "RUNNING", 4: "RUNNING"}
    rows = read_csv(folder / "index.csv")
    assert [r["status"] for r in rows] == ["done", "done", "interrupted", "interrupted"]

    # resume with two more trials: the open trials 3 and 4 run again as one batch, then 5 and 6 are asked
    calls = counting_batches(monkeypatch)
    sweep_yaml = folder / "sweep.yaml"
    sweep_yaml.write_text(sweep_yaml.read_text().replace("trials: 4", "trials: 6"))
    with pytest.raises(nstlib.errors.UserError, match="differs from the saved sweep.yaml"):
        nstlib.sweep(data, resume=folder, verbose=False)  # the file given says 4 trials
    result = nstlib.sweep(resume=folder, verbose=False)
    assert result.ok and calls == [2, 2]  # points 1 and 2 are not rerun
    after = read_csv(folder / "index.csv")
    assert [int(r["point"]) for r in after] == [1, 2, 3, 4, 5, 6]
    assert [r["style_weight"] for r in after[:4]] == [r["style_weight"] for r in rows]  # the same trials
    assert [r["wall_time_s"] for r in after[:2]] == [r["wall_time_s"] for r in rows[:2]]  # kept, not recomputed
    weights = [float(r["style_weight"]) for r in after]
    assert len(set(weights)) == 6 and all(1e2 <= w <= 1e6 for w in weights)
    study = optuna.load_study(study_name="search", storage=f"sqlite:///{folder / STUDY}")
    told = {t.user_attrs["point"]: t for t in study.trials if t.state.name == "COMPLETE"}
    assert sorted(told) == [1, 2, 3, 4, 5, 6] and len(study.trials) == 6
    for row in after:  # the study was told each point's content and Gram distances, and ran its parameters
        expected = [float(row["content_distance"]), float(row["gram_distance"])]
        assert told[int(row["point"])].values == pytest.approx(expected)
        assert read_json(folder / row["folder"] / "config.json")["config"]["style_weight"] == float(row["style_weight"])
    assert {r["pareto"] for r in after} <= {"True", "False"} and "True" in {r["pareto"] for r in after}
    assert (folder / "tradeoff.png").is_file() and (folder / "grid.png").is_file()


def test_default_population_is_not_the_batch():
    """NSGA-II breeds a generation from the last; a population of one small batch keeps repeating its parents."""
    spec = resolve({"base": {}, "axes": SPACE, "search": {"batch": 2}}, check_files=False)
    assert spec.sampling.search["population"] >= 8
    spec = resolve({"base": {}, "axes": SPACE, "search": {"batch": 12}}, check_files=False)
    assert spec.sampling.search["population"] == 12


@pytest.mark.parametrize("search", [{"sampler": "nsga2", "population": 2}, {"sampler": "nsga2"}, {"sampler": "tpe"}])
def test_batched_asks_give_distinct_points(tmp_path, search):
    """Two rounded parameters, batches of 2: a trial repeating a point is closed as a duplicate and asked again."""
    axes = {**SPACE, "lr": {"sample": "uniform", "low": 0.5, "high": 1.5}}
    spec = resolve(
        {"base": {}, "axes": axes, "search": {"trials": 24, "batch": 2, **search}, "seed": 2}, check_files=False
    )
    study = open_study(tmp_path, spec)
    seen: set[str] = set()
    points: list[dict] = []
    while len(points) < 24:
        asked = ask(study, spec, 2, seen, len(points) + 1)
        for number, values in asked:  # a trade-off: β moves content distance up and style distance down
            beta, lr = values["style_weight"], values["lr"]
            content, style = beta * lr / 1e6, 1e2 / beta
            study.tell(number, [content, style] if search["sampler"] == "nsga2" else content + style)
        points += [values for _, values in asked]
    assert len({tuple(sorted(p.items())) for p in points}) == 24
    assert all(1e2 <= p["style_weight"] <= 1e6 and 0.5 <= p["lr"] <= 1.5 for p in points)
    by_trial = {t.number: point_values(spec, t.params) for t in study.trials}
    for t in study.trials:
        earlier = [by_trial[n] for n in range(t.number)]
        assert ("duplicate_of" in t.user_attrs) == (by_trial[t.number] in earlier and "point" not in t.user_attrs)
        assert ("point" in t.user_attrs) != ("duplicate_of" in t.user_attrs)
