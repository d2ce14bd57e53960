"""Sampled axes of a sweep file: a distribution in place of a list of values, drawn `samples:` times from
the sweep's `seed:`, or asked of an Optuna study by `search:` (nstlib/sweep/search.py).

    axes:
      style_weight: {sample: log_uniform, low: 1e2, high: 1e6}
      lr: {sample: uniform, low: 0.5, high: 1.5}
      init: {sample: choice, values: [content, noise]}

A drawn number is rounded to SIGNIFICANT digits (clipped back into [low, high]; an integer parameter's
to an integer), so that labels and folder names stay short and the point runs the value its label shows.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np

from nstlib.config import field_types, fields_by_name, unknown_name_error
from nstlib.errors import UserError
from nstlib.sweep.labels import try_coerce

KINDS = ("log_uniform", "uniform", "choice")
SIGNIFICANT = 3
SAMPLERS = ("nsga2", "tpe")
SEARCH_KEYS = ("sampler", "trials", "batch", "population")
POPULATION = 8  # NSGA-II's smallest default population (see parse_search)
MAX_DRAWS = 100  # asks per new point before a search gives up finding parameters not run yet


@dataclass(frozen=True)
class Distribution:
    """Where a sampled parameter's values come from."""

    kind: str  # one of KINDS
    low: float = 0.0
    high: float = 0.0
    values: tuple[Any, ...] = ()  # choice
    integer: bool = False  # the parameter is an int field

    def to_dict(self) -> dict[str, Any]:
        if self.kind == "choice":
            return {"sample": self.kind, "values": list(self.values)}
        number = int if self.integer else float
        return {"sample": self.kind, "low": number(self.low), "high": number(self.high)}

    def value(self, x: Any) -> Any:
        """A raw draw (a number, or a choice) as the point's value: rounded, clipped, typed."""
        if self.kind == "choice":
            return x
        if self.integer:
            return int(min(max(round(float(x)), math.ceil(self.low)), math.floor(self.high)))
        return min(max(float(f"{float(x):.{SIGNIFICANT}g}"), self.low), self.high)

    def draw(self, rng: np.random.Generator) -> Any:
        if self.kind == "choice":
            return self.values[int(rng.integers(len(self.values)))]
        if self.kind == "log_uniform":
            return self.value(math.exp(rng.uniform(math.log(self.low), math.log(self.high))))
        return self.value(rng.uniform(self.low, self.high))

    def contains(self, value: Any) -> bool:
        if self.kind == "choice":
            return value in self.values
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            return False
        return self.low <= value <= self.high and (not self.integer or float(value).is_integer())


def is_distribution(value: Any) -> bool:
    return isinstance(value, dict) and "sample" in value


def parse_distribution(name: str, raw: dict[str, Any], where: str) -> Distribution:
    """A validated distribution of parameter `name`; errors are one line naming axes.<name>."""
    at = f"{where}axes.{name}"
    if name not in fields_by_name():
        raise unknown_name_error(name, f"{at}: ")
    kind = raw.get("sample")
    if kind not in KINDS:
        raise UserError(f"{at}: sample {kind!r} is not one of {', '.join(KINDS)}")
    expected = ("sample", "values") if kind == "choice" else ("sample", "low", "high")
    extra = [k for k in raw if k not in expected]
    missing = [k for k in expected if k not in raw]
    if extra or missing:
        what = f"unknown key {extra[0]!r}" if extra else f"missing {missing[0]!r}"
        raise UserError(f"{at}: {what}; a {kind} axis has {', '.join(expected)}")
    if kind == "choice":
        values = raw["values"]
        if not isinstance(values, list) or not values:
            raise UserError(f"{at}.values: expected a non-empty list of values, got {values!r}")
        return Distribution(kind, values=tuple(try_coerce(name, v) for v in values))
    kind_of = field_types().get(name)
    if kind_of not in (int, float):
        raise UserError(f"{at}: {kind} needs a numeric parameter; {name} is not one (use sample: choice)")
    bounds = []
    for key in ("low", "high"):
        try:
            bound = float(raw[key])
        except (TypeError, ValueError):
            bound = math.nan
        if isinstance(raw[key], bool) or not math.isfinite(bound):
            raise UserError(f"{at}.{key}: expected a number, got {raw[key]!r}")
        bounds.append(bound)
    low, high = bounds
    if not low < high:
        raise UserError(f"{at}: low ({raw['low']}) must be below high ({raw['high']})")
    if kind == "log_uniform" and low <= 0:
        raise UserError(f"{at}.low: log_uniform needs low > 0, got {raw['low']}")
    integer = kind_of is int
    if integer and math.floor(high) < math.ceil(low):
        raise UserError(f"{at}: no integer between low ({raw['low']}) and high ({raw['high']})")
    return Distribution(kind, low, high, integer=integer)


def draw(distributions: dict[str, Distribution], samples: int, seed: int) -> list[dict[str, Any]]:
    """`samples` points, each a value of every distribution, from numpy's generator seeded with `seed`."""
    rng = np.random.default_rng(seed)
    return [{name: d.draw(rng) for name, d in distributions.items()} for _ in range(samples)]


def check_drawn(drawn: Any, distributions: dict[str, Distribution], where: str) -> list[dict[str, Any]]:
    """`drawn:` as recorded in a sweep folder's sweep.yaml: one mapping per point, every value in its distribution."""
    if not isinstance(drawn, list):
        raise UserError(f"{where}drawn: expected a list of mappings of the sampled parameters, got {drawn!r}")
    out = []
    for i, values in enumerate(drawn, start=1):
        if not isinstance(values, dict) or set(values) != set(distributions):
            raise UserError(f"{where}drawn[{i}]: expected values of {', '.join(distributions)}, got {values!r}")
        typed = {k: try_coerce(k, v) for k, v in values.items()}
        for name, value in typed.items():
            if not distributions[name].contains(value):
                raise UserError(f"{where}drawn[{i}].{name}: {value!r} is outside axes.{name}")
        out.append({name: typed[name] for name in distributions})
    return out


def positive_int(value: Any, at: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise UserError(f"{at}: expected a positive integer, got {value!r}")
    return value


def parse_search(raw: Any, where: str) -> dict[str, Any]:
    """`search:` of a sweep file, defaults filled in: sampler nsga2 (content and style distance) or tpe (the
    `rank:` combination; content distance + style distance without one), trials, batch, NSGA-II's population."""
    if not isinstance(raw, dict):
        raise UserError(f"{where}search: expected a mapping with {', '.join(SEARCH_KEYS)}, got {raw!r}")
    for key in raw:
        if key not in SEARCH_KEYS:
            raise UserError(f"{where}search: unknown key {key!r}; choose from {', '.join(SEARCH_KEYS)}")
    sampler = raw.get("sampler", "nsga2")
    if sampler not in SAMPLERS:
        raise UserError(f"{where}search.sampler: {sampler!r} is not one of {', '.join(SAMPLERS)}")
    trials = positive_int(raw.get("trials", 20), f"{where}search.trials")
    batch = positive_int(raw.get("batch", 4), f"{where}search.batch")
    # NSGA-II breeds each generation from the last: a population of 2 (a batch of 2) has one pair of parents,
    # whose children keep repeating them; a population of at least POPULATION keeps the offspring varied
    population = positive_int(raw.get("population", max(batch, POPULATION)), f"{where}search.population")
    if population < 2:
        raise UserError(f"{where}search.population: NSGA-II needs at least 2, got {population}")
    out: dict[str, Any] = {"sampler": sampler, "trials": trials, "batch": batch}
    if sampler == "nsga2":
        out["population"] = population
    elif "population" in raw:
        raise UserError(f"{where}search.population: only the nsga2 sampler has a population")
    return out


@dataclass
class Sampling:
    """How a sweep's sampled axes are drawn, and the values drawn so far (one mapping per point)."""

    seed: int
    drawn: list[dict[str, Any]]
    samples: int | None = None  # drawn from the seed
    search: dict[str, Any] | None = None  # or asked of a study (parse_search)


def parse_sampling(
    data: dict[str, Any], distributions: dict[str, Distribution], listed: list[str], where: str
) -> Sampling | None:
    """The sweep file's samples, seed, search and drawn keys, checked against its axes; None if nothing is sampled.

    `listed` names the axes given as lists (and zip): a search samples every axis, so it refuses them."""
    samples, search = data.get("samples"), data.get("search")
    if not distributions:
        for key in ("samples", "search", "seed", "drawn"):
            if data.get(key) is not None:
                raise UserError(
                    f"{where}{key}: no axis is sampled; give one a distribution, e.g. "
                    "style_weight: {sample: log_uniform, low: 1e2, high: 1e6}"
                )
        return None
    if samples is None and search is None:
        raise UserError(
            f"{where}axes.{next(iter(distributions))}: a sampled axis needs samples: N (values drawn from seed:) "
            "or search: (an Optuna study)"
        )
    if samples is not None and search is not None:
        raise UserError(f"{where}samples: give samples (values drawn) or search (a study), not both")
    seed = data.get("seed", 0)
    if isinstance(seed, bool) or not isinstance(seed, int) or seed < 0:
        raise UserError(f"{where}seed: expected a non-negative integer, got {seed!r}")
    raw = data.get("drawn")
    if search is not None:
        settings = parse_search(search, where)
        if listed:
            raise UserError(
                f"{where}axes.{listed[0]}: a search samples every axis; give it a distribution "
                "(for a list of values: {sample: choice, values: [...]})"
            )
        drawn = check_drawn(raw or [], distributions, where)
        if len(drawn) > settings["trials"]:
            raise UserError(f"{where}drawn: {len(drawn)} points, more than search.trials ({settings['trials']})")
        return Sampling(seed, drawn, search=settings)
    samples = positive_int(samples, f"{where}samples")
    drawn = draw(distributions, samples, seed) if raw is None else check_drawn(raw, distributions, where)
    if len(drawn) != samples:
        raise UserError(f"{where}drawn: {len(drawn)} points, not samples ({samples})")
    return Sampling(seed, drawn, samples=samples)
