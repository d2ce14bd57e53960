"""Value labels of a sweep: short, exact and filesystem-safe enough for folder names and figure titles."""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from nstlib.config import INIT_MODES, coerce, field_types, fields_by_name
from nstlib.errors import ConfigError
from nstlib.paths import url_stem


def try_coerce(name: str, value: Any) -> Any:
    """`value` as Config types it (YAML reads 1e-2 as a string), or as given if it is not a field's value."""
    try:
        return coerce(name, value, field_types()[name])
    except (ConfigError, KeyError):
        return value


def format_value(name: str, value: Any) -> str:
    """A short, exact label: 0.01, 1e4, relu4_2, starry_swirls (the stem of an image path)."""
    value = try_coerce(name, value)
    field = fields_by_name().get(name)
    is_path = bool(field and field.metadata.get("path"))
    if name == "init" and isinstance(value, str) and value not in INIT_MODES:
        is_path = True
    if isinstance(value, list):
        return ("+" if is_path else ",").join(_format_scalar(v, is_path) for v in value) or "[]"
    return _format_scalar(value, is_path)


def pairs(params: dict[str, Any]) -> str:
    """'style_weight=0.01, init=noise'."""
    return ", ".join(f"{k}={format_value(k, v)}" for k, v in params.items())


def _format_scalar(value: Any, is_path: bool) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        return _format_float(value)
    if isinstance(value, str) and is_path:
        return url_stem(value) or value
    return str(value)


def _format_float(v: float) -> str:
    if not math.isfinite(v) or v == 0:
        return f"{v:g}"
    for p in range(1, 18):
        text = f"{v:.{p}g}"
        if float(text) == v:
            break
    mantissa, e, exponent = text.partition("e")
    compact = f"{mantissa}e{int(exponent)}" if e else text
    plain = np.format_float_positional(v, trim="-")
    return plain if len(plain) <= len(compact) else compact
