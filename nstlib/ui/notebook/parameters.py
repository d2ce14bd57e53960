"""A notebook's parameters cell → Config: papermill's injected values read as the CLI reads them,
unknown parameters refused in one line, paths resolved against the project."""

from __future__ import annotations

import difflib
from collections.abc import Mapping, Sequence
from typing import Any

from nstlib.config import Config, ConfigError, field_types, fields_by_name, from_dict, parse_value

INJECTABLE = (str, int, float, bool, list, dict, type(None))  # what papermill's -p, -y and -f can give


_BEFORE_PARAMETERS: dict[int, set[str]] = {}  # per namespace: the names defined before its parameters cell


def parameters_begin(namespace: Mapping[str, Any]) -> None:
    """Remember the names a notebook has before its parameters cell (the setup cell calls this last)."""
    _BEFORE_PARAMETERS[id(namespace)] = set(namespace)


def check_parameters(namespace: Mapping[str, Any], notebook: str) -> None:
    """Refuse in one line a name set since `parameters_begin` that is no parameter of `notebook`: what
    papermill's injected cell holds for `-p foo 1` (papermill only warns, and the value would be ignored).

    The parameters are the names the parameters cell declares with a type, as papermill reads them;
    papermill injects plain assignments of data (not, say, the cell's `from typing import Union`).
    Checked once per `parameters_begin`, so rerunning a later cell, after the notebook has made names of
    its own, does not refuse them."""
    before = _BEFORE_PARAMETERS.pop(id(namespace), None)
    if before is None:
        return
    known = set(namespace.get("__annotations__", {}))
    unknown = [
        n
        for n, value in namespace.items()
        if n not in before and n not in known and not n.startswith("_") and isinstance(value, INJECTABLE)
    ]
    if unknown:
        named = []
        for name in unknown:
            close = difflib.get_close_matches(name, sorted(known), n=1)
            named.append(repr(name) + (f" (did you mean {close[0]}?)" if close else ""))
        raise ConfigError(
            f"{notebook}: unknown parameter{'s' if len(unknown) > 1 else ''} {', '.join(named)}; "
            f"papermill --help-notebook {notebook} lists its parameters"
        )


def config_from_parameters(namespace: Mapping[str, Any], **overrides: Any) -> Config:
    """A validated Config from the Config-named variables of a notebook's namespace (e.g. `globals()`).

    Values papermill's `-p` made (text, or a number it guessed) are read as the CLI reads them: see
    `parameter_value`.
    """
    values = {}
    for name in fields_by_name():
        if name in overrides:
            values[name] = overrides[name]
        elif name in namespace:
            values[name] = parameter_value(name, namespace[name])
    return from_dict(values)


def parameter_value(name: str, value: Any) -> Any:
    """The value of Config field `name` from a notebook parameter set by papermill.

    `-p` turns text that looks like a number or True/False into one, so a field that is not a number
    (`-p sizes 128`, `-p name 2024`, `-p video 0`) gets its text back; text given to a non-string
    field is parsed as the CLI parses it (lists comma-separated: `-p style_layers relu1_1,relu2_1`).
    """
    kind = field_types()[name]
    if isinstance(value, (bool, int, float)) and kind not in (int, float):
        value = str(value)
    if isinstance(value, str) and kind is not str:
        value = parse_value(name, value)
    return value


def project_path(path: str) -> str:
    """A path as given if it exists here, else relative to the project (Jupyter starts kernels in notebooks/)."""
    from nstlib.paths import resolve_input

    return resolve_input(path)


OVERRIDES_SEPARATOR = ";"  # not ",", which separates the items of a list value (style_layers=relu1_1,relu2_1)


def overrides_list(overrides: str | Sequence[str]) -> list[str]:
    """sweep.ipynb's `overrides` as `nst sweep --set` strings ("name=value").

    A string (papermill `-p overrides "image_size=64;epochs=20"`) holds them separated by ';'; a list
    (from a YAML file, `-f params.yaml`) holds one per item.
    """
    if not overrides:
        return []
    if isinstance(overrides, str):
        return [o.strip() for o in overrides.split(OVERRIDES_SEPARATOR) if o.strip()]
    return [str(o) for o in overrides]
