"""Sampled axes: drawn from the seed (the same points again), inside their bounds, recorded for --resume, checked."""

from __future__ import annotations

import math

import numpy as np
import pytest
import yaml

import nstlib
from nstlib.errors import UserError
from nstlib.record.runs import read_csv
from nstlib.sweep.sampling import SIGNIFICANT, draw, parse_distribution
from nstlib.sweep.spec import load_sweep, resolve
from nstlib.ui.cli import main

from conftest import ROOT

LOG = {"sample": "log_uniform", "low": "1e2", "high": "1e6"}


def sampled(**extra) -> dict:
    return {
        "base": {},
        "axes": {"style_weight": LOG, "init": {"sample": "choice", "values": ["content", "noise"]}},
        "samples": 60,
        "seed": 7,
        **extra,
    }


def test_sampling_is_reproducible_from_the_seed_and_within_bounds():
    a, b = resolve(sampled(), check_files=False), resolve(sampled(), check_files=False)
    assert [p.params for p in a.points] == [p.params for p in b.points]
    other = resolve(sampled(seed=8), check_files=False)
    assert [p.params for p in other.points] != [p.params for p in a.points]
    weights = np.array([p.config.style_weight for p in a.points])
    assert len(a.points) == 60 and weights.min() >= 1e2 and weights.max() <= 1e6
    assert all(float(f"{w:.{SIGNIFICANT}g}") == w for w in weights)  # short labels: 3 significant digits
    assert max(len(p.label) for p in a.points) <= len("style_weight=1.23e5, init=content")
    # log-uniform: the logarithm is uniform, so each of the four decades holds about a quarter of the draws (15)
    decades = np.histogram(np.log10(weights), bins=4, range=(2, 6))[0]
    assert decades.min() > 5 and {p.config.init for p in a.points} == {"content", "noise"}


def test_log_uniform_draws_match_numpy():
    d = parse_distribution("style_weight", LOG, "")
    rng = np.random.default_rng(3)
    direct = [float(f"{math.exp(rng.uniform(math.log(1e2), math.log(1e6))):.3g}") for _ in range(5)]
    assert [v["style_weight"] for v in draw({"style_weight": d}, 5, 3)] == direct


def test_integer_parameter_draws_integers():
    d = parse_distribution("epochs", {"sample": "uniform", "low": 3, "high": 6}, "")
    values = [v["epochs"] for v in draw({"epochs": d}, 100, 0)]
    assert set(values) <= {3, 4, 5, 6} and all(isinstance(v, int) for v in values) and len(set(values)) == 4


def test_drawn_values_are_recorded_and_reused(images, tmp_path):
    spec = resolve(sampled(samples=3), check_files=False)
    saved = spec.to_dict()
    assert saved["drawn"] == [p.params for p in spec.points] and saved["axes"]["style_weight"]["low"] == 100.0
    saved["drawn"][0]["style_weight"] = 5e5  # the values recorded are run, not drawn again
    again = resolve(yaml.safe_load(yaml.safe_dump(saved)), check_files=False)
    assert again.points[0].config.style_weight == 5e5 and again.points[1].params == spec.points[1].params
    saved["drawn"][0]["style_weight"] = 5e7
    with pytest.raises(UserError, match=r"^drawn\[1\]\.style_weight: 50000000\.0 is outside axes\.style_weight$"):
        resolve(saved, check_files=False)


@pytest.mark.parametrize(
    "axis, extra, message",
    [
        ({"sample": "log_uniform", "low": 0, "high": 1}, {}, "axes.style_weight.low: log_uniform needs low > 0"),
        ({"sample": "log_uniform", "low": 5, "high": 1}, {}, "axes.style_weight: low (5) must be below high (1)"),
        ({"sample": "normal", "low": 0, "high": 1}, {}, "axes.style_weight: sample 'normal' is not one of"),
        ({"sample": "uniform", "low": 0}, {}, "axes.style_weight: missing 'high'; a uniform axis has"),
        ({"sample": "uniform", "low": "x", "high": 1}, {}, "axes.style_weight.low: expected a number, got 'x'"),
        ({"sample": "choice", "values": []}, {}, "axes.style_weight.values: expected a non-empty list"),
        (LOG, {"samples": None}, "axes.style_weight: a sampled axis needs samples: N"),
        (LOG, {"samples": 0}, "samples: expected a positive integer, got 0"),
        (LOG, {"seed": -1}, "seed: expected a non-negative integer, got -1"),
        (LOG, {"search": {"trials": 2}}, "samples: give samples (values drawn) or search (a study), not both"),
        (LOG, {"samples": None, "search": {"sampler": "grid"}}, "search.sampler: 'grid' is not one of nsga2, tpe"),
        (LOG, {"samples": None, "search": {"batch": 0}}, "search.batch: expected a positive integer, got 0"),
        (LOG, {"samples": None, "search": {"tirals": 3}}, "search: unknown key 'tirals'"),
        (LOG, {"tradeoff": {"style": "ssim"}}, "tradeoff.style: 'ssim' is not a style metric"),
    ],
)
def test_bad_sampling_is_one_line_naming_the_key(axis, extra, message):
    data = {"base": {}, "axes": {"style_weight": axis}, "samples": 2, **extra}
    data = {k: v for k, v in data.items() if v is not None}
    with pytest.raises(UserError) as e:
        resolve(data, check_files=False)
    assert str(e.value).startswith(message) and "\n" not in str(e.value)


def test_search_refuses_listed_axes_and_metrics_off():
    axes = {"style_weight": LOG, "init": ["content", "noise"]}
    with pytest.raises(UserError, match=r"^axes\.init: a search samples every axis"):
        resolve({"base": {}, "axes": axes, "search": {}}, check_files=False)
    with pytest.raises(UserError, match=r"^search: a study learns from the run metrics"):
        resolve({"base": {"metrics": False}, "axes": {"style_weight": LOG}, "search": {}}, check_files=False)


def test_cli_bad_sampled_sweep_exits_2(tmp_path, capsys):
    path = tmp_path / "bad.yaml"
    path.write_text(
        yaml.safe_dump(
            {
                "axes": {"style_weight": {"sample": "log_uniform", "low": 1, "high": 1}},
                "samples": 2,
                "base": {"runs_dir": str(tmp_path / "runs")},
            }
        )
    )
    assert main(["sweep", str(path)]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("nst: error: ") and err.endswith("axes.style_weight: low (1) must be below high (1)")
    assert "\n" not in err and not (tmp_path / "runs").exists()


def test_bundled_sampled_and_search_sweeps_are_small():
    sampled_spec = load_sweep(ROOT / "sweeps" / "sampled.yaml")
    assert sampled_spec.distributions and 1 < len(sampled_spec.points) <= 8
    search = load_sweep(ROOT / "sweeps" / "search.yaml")
    assert search.sampling.search["trials"] <= 16 and not search.points
    for spec in (sampled_spec, search):
        assert 128 <= spec.base["image_size"] <= 256 and spec.base["epochs"] <= 100


def test_sampled_sweep_runs_and_resumes_the_same_points(images, tmp_path):
    base = {
        "image_size": 32,
        "epochs": 1,
        "save_every": 0,
        "video": False,
        "precision": "fp32",
        "metrics": False,
        "content": str(images["content"]),
        "style": [str(images["style"])],
        "runs_dir": str(tmp_path / "runs"),
    }
    data = {"name": "s", "base": base, "axes": {"style_weight": LOG}, "samples": 2, "seed": 1}
    result = nstlib.sweep(data, verbose=False)
    rows = read_csv(result.folder / "index.csv")
    assert [float(r["style_weight"]) for r in rows] == [p.params["style_weight"] for p in resolve(data).points]
    again = nstlib.sweep(resume=result.folder, verbose=False)
    assert [r["wall_time_s"] for r in read_csv(again.folder / "index.csv")] == [r["wall_time_s"] for r in rows]
