"""`search:` sweeps: an Optuna study chooses the points (ask/tell), `batch` trials at a time, and the sweep's
engine runs each batch as ordinary numbered points (batched through VGG where they are compatible).

The study lives in the sweep folder (study.db, SQLite): `--resume` continues it, keeping the points done and
rerunning the trials left open (a point failed, or the sweep stopped before it finished). Each trial that
became a point carries its number (user attribute `point`); a trial that repeats a point's parameters
(after rounding, sampling.py) is closed as failed with `duplicate_of` and asked again.

NSGA-II (Deb et al. 2002) minimises content distance and the trade-off view's style distance together; TPE
(Bergstra et al. 2011) minimises the `rank:` combination, content + style distance without one.
"""

from __future__ import annotations

import json
import math
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any

from nstlib.errors import UserError, quoted
from nstlib.sweep.folder import PointState, SweepFolder, save_spec
from nstlib.sweep.rank import CONTENT_METRIC, metric_value, rank_score
from nstlib.sweep.sampling import MAX_DRAWS, Distribution
from nstlib.sweep.spec import Point, Sweep, resolve

STUDY = "study.db"
RunPoints = Callable[[list[Point]], None]  # an engine bound to the sweep folder and its options


def objective(spec: Sweep, state: PointState) -> list[float] | None:
    """What the study minimises for a point done: [content, style distance] (NSGA-II) or [rank score] (TPE)."""
    if state.status != "done":
        return None
    assert spec.sampling is not None and spec.sampling.search is not None
    style = spec.tradeoff["style"]
    if spec.sampling.search["sampler"] == "nsga2":
        values = [metric_value(state.metrics, CONTENT_METRIC), metric_value(state.metrics, style)]
    else:
        values = [rank_score(state.metrics, spec.rank or {CONTENT_METRIC: 1.0, style: 1.0})]
    known = [v for v in values if v is not None]
    return known if len(known) == len(values) else None


def sampler(spec: Sweep, seed: int) -> Any:
    import optuna

    assert spec.sampling is not None and spec.sampling.search is not None
    settings = spec.sampling.search
    if settings["sampler"] == "nsga2":
        # SBX (simulated binary crossover, Deb & Agrawal 1995) breeds new numbers between and around the
        # parents; Optuna's default uniform crossover copies each parameter from a parent, which with
        # one or two parameters repeats a parent as often as not
        with warnings.catch_warnings():  # SBXCrossover is "experimental" (its interface may change), not unsound
            warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
            crossover = optuna.samplers.nsgaii.SBXCrossover()
        return optuna.samplers.NSGAIISampler(population_size=settings["population"], crossover=crossover, seed=seed)
    # constant liar: the trials of a batch, asked before any is told, do not all go to the same place
    return optuna.samplers.TPESampler(seed=seed, constant_liar=True, n_startup_trials=min(10, settings["trials"]))


def open_study(folder: Path, spec: Sweep) -> Any:
    """The sweep's study in folder/study.db, created or loaded. A loaded study's sampler is seeded with the seed
    plus the trials it holds, so that a resumed search does not draw its first trials again."""
    import optuna

    assert spec.sampling is not None and spec.sampling.search is not None
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    directions: list[Any] = ["minimize"] * (2 if spec.sampling.search["sampler"] == "nsga2" else 1)
    study = optuna.create_study(
        storage=f"sqlite:///{folder / STUDY}",
        study_name=spec.name,
        directions=directions,
        sampler=sampler(spec, spec.sampling.seed),
        load_if_exists=True,
    )
    if study.trials:
        study.sampler = sampler(spec, spec.sampling.seed + len(study.trials))
    return study


def optuna_distribution(d: Distribution) -> Any:
    from optuna.distributions import CategoricalDistribution, FloatDistribution, IntDistribution

    if d.kind == "choice":  # by index: a choice may be a list or a path, which Optuna's categories cannot hold
        return CategoricalDistribution(list(range(len(d.values))))
    log = d.kind == "log_uniform"
    if d.integer:
        return IntDistribution(math.ceil(d.low), math.floor(d.high), log=log)
    return FloatDistribution(d.low, d.high, log=log)


def point_values(spec: Sweep, params: dict[str, Any]) -> dict[str, Any]:
    """A trial's parameters as the point's values (choices by index, numbers rounded)."""
    return {
        name: d.values[params[name]] if d.kind == "choice" else d.value(params[name])
        for name, d in spec.distributions.items()
    }


def _key(values: dict[str, Any]) -> str:
    return json.dumps(values, sort_keys=True, default=str)


def with_drawn(spec: Sweep, drawn: list[dict[str, Any]]) -> Sweep:
    return resolve({**spec.to_dict(drawn=False), "drawn": drawn}, default_name=spec.name, check_files=False)


def ask(study: Any, spec: Sweep, count: int, seen: set[str], first: int) -> list[tuple[int, dict[str, Any]]]:
    """Up to `count` new (trial number, values), none repeating `seen` (updated), for points numbered from
    `first`; fewer if the space runs dry."""
    from optuna.trial import TrialState

    space = {name: optuna_distribution(d) for name, d in spec.distributions.items()}
    asked: list[tuple[int, dict[str, Any]]] = []
    for _ in range(count):
        for _ in range(MAX_DRAWS):
            trial = study.ask(space)
            values = point_values(spec, trial.params)
            if _key(values) not in seen:
                break
            trial.set_user_attr("duplicate_of", _key(values))
            study.tell(trial, state=TrialState.FAIL)
        else:
            return asked
        trial.set_user_attr("point", first + len(asked))
        seen.add(_key(values))
        asked.append((trial.number, values))
    return asked


def run_search(spec: Sweep, state: SweepFolder, todo: list[Point], run: RunPoints, say: Callable[..., None]) -> Sweep:
    """Continue the sweep's study until it has search.trials points: rerun `todo` (points not done, on resume),
    then ask, run and tell a batch at a time. Returns the sweep with every point it has now."""
    from optuna.trial import TrialState

    assert spec.sampling is not None and spec.sampling.search is not None
    settings = spec.sampling.search
    study = open_study(state.folder, spec)
    trials = {t.user_attrs["point"]: t for t in study.get_trials(deepcopy=False) if "point" in t.user_attrs}
    drawn = [point_values(spec, trials[n].params) for n in sorted(trials)]
    if drawn[: len(spec.sampling.drawn)] != spec.sampling.drawn:
        raise UserError(
            f"{quoted(state.folder / STUDY)}: its trials are not the points of sweep.yaml (drawn:); "
            "was it replaced or deleted? Start a new sweep"
        )
    if len(drawn) > len(spec.sampling.drawn):  # the study asked trials the last run could not record: they run now
        known = {p.number for p in spec.points}
        spec = with_drawn(spec, drawn)
        save_spec(state.folder, spec)
        state.extend(spec)
        todo = [*todo, *(p for p in spec.points if p.number not in known)]
    open_trials = {n: t.number for n, t in trials.items() if t.state == TrialState.RUNNING}

    def tell(points: list[Point]) -> None:
        for p in points:
            values = objective(spec, state.states[p.number])
            if values is not None and p.number in open_trials:  # a failed point's trial stays open for --resume
                study.tell(open_trials.pop(p.number), values)

    tell([p for p in spec.points if p not in todo])  # done before the last run could tell the study
    if todo:
        run(todo)
        tell(todo)
    seen = {_key(d) for d in drawn}
    while len(spec.points) < settings["trials"]:
        first = len(spec.points) + 1
        asked = ask(study, spec, min(settings["batch"], settings["trials"] - len(spec.points)), seen, first)
        if not asked:
            say(f"search: no parameters left that were not run already ({MAX_DRAWS} draws); stopping")
            break
        open_trials.update({number: trial for number, (trial, _) in enumerate(asked, start=first)})
        drawn = [*drawn, *(values for _, values in asked)]
        spec = with_drawn(spec, drawn)
        save_spec(state.folder, spec)
        state.extend(spec)
        batch = spec.points[first - 1 :]
        run(batch)
        tell(batch)
    return spec
