"""Judging points: the Pareto front (against a direct O(n²) check), rank scores and ranks, and their index columns."""

from __future__ import annotations

import random

import pytest

from nstlib.errors import UserError
from nstlib.sweep.folder import PointState, SweepFolder
from nstlib.sweep.rank import pareto_front, parse_rank, rank_score, ranks
from nstlib.sweep.spec import resolve


def dominated(p, others) -> bool:
    return any(q[0] <= p[0] and q[1] <= p[1] and (q[0] < p[0] or q[1] < p[1]) for q in others)


def test_pareto_front_on_constructed_points():
    points = [(1.0, 5.0), (2.0, 3.0), (2.0, 4.0), (3.0, 3.0), (4.0, 1.0), (4.0, 1.0), None, (0.5, 9.0), (5.0, 1.0)]
    # (2, 4) loses to (2, 3) at equal x; (3, 3) to (2, 3) at equal y; (5, 1) to (4, 1); the duplicates (4, 1) stay
    assert pareto_front(points) == [True, True, False, False, True, True, False, True, False]
    assert pareto_front([]) == [] and pareto_front([(1.0, 1.0)]) == [True]


def test_pareto_front_matches_the_definition_on_random_points():
    rng = random.Random(0)
    for _ in range(50):
        points = [(float(rng.randint(0, 5)), float(rng.randint(0, 5))) for _ in range(rng.randint(1, 12))]
        expected = [not dominated(p, points) for p in points]
        assert pareto_front(points) == expected


def test_rank_score_and_ranks():
    weights = parse_rank({"content_distance": 1, "gram_distance": 2, "ssim": 0.5})
    metrics = {"content_distance": 0.5, "gram_distance": 0.25, "ssim": 0.8}
    assert rank_score(metrics, weights) == pytest.approx(0.5 + 2 * 0.25 + 0.5 * (1 - 0.8))
    assert rank_score({"content_distance": 0.5, "gram_distance": None, "ssim": 1}, weights) is None
    assert parse_rank("w2_distance") == {"w2_distance": 1.0}
    assert ranks([0.3, None, 0.1, 0.3, 0.2]) == [3, None, 1, 3, 2]


@pytest.mark.parametrize(
    "rank, message",
    [
        ("contnet_distance", "rank: unknown metric 'contnet_distance'; choose from content_distance, "),
        ({"gram_distance": -1}, "rank.gram_distance: expected a positive weight, got -1"),
        ({"gram_distance": "much"}, "rank.gram_distance: expected a positive weight"),
        ([1, 2], "rank: expected a metric name or a mapping metric → weight"),
    ],
)
def test_bad_rank_is_one_line_naming_the_key(rank, message):
    with pytest.raises(UserError) as e:
        resolve({"base": {}, "axes": {"style_weight": [1, 2]}, "rank": rank}, check_files=False)
    assert str(e.value).startswith(message) and "\n" not in str(e.value)


def test_index_rank_and_pareto_columns(tmp_path):
    """A constructed index: rank orders the points by the weighted metrics, pareto marks the front."""
    spec = resolve(
        {"base": {}, "axes": {"style_weight": [1, 2, 3, 4]}, "rank": {"content_distance": 1, "gram_distance": 1}},
        check_files=False,
    )
    state = SweepFolder(spec, tmp_path, lambda *a, **k: None)
    given = [(0.1, 0.9), (0.4, 0.2), (0.5, 0.5), None]  # (content, gram); the last point failed
    for p, xy in zip(spec.points, given):
        metrics = {"content_distance": xy[0], "gram_distance": xy[1]} if xy else {}
        state.states[p.number] = PointState("done" if xy else "failed", metrics=metrics)
    rows = state.rows()
    assert [r["rank_score"] for r in rows[:3]] == pytest.approx([1.0, 0.6, 1.0]) and rows[3]["rank_score"] is None
    assert [r["rank"] for r in rows] == [2, 1, 2, None]
    assert [r["pareto"] for r in rows] == [True, True, False, None]
    state.write_index()
    header = (tmp_path / "index.csv").read_text().splitlines()[0].split(",")
    assert {"rank", "rank_score", "pareto"} <= set(header)
    plain = resolve({"base": {}, "axes": {"style_weight": [1, 2]}}, check_files=False)
    assert "rank" not in SweepFolder(plain, tmp_path, print).rows()[0]
