"""Typed values from text: what a CLI flag, a YAML file or a papermill parameter gives, as Config's types.

Lists are comma-separated; "1e3" is a fine integer; non-finite numbers are refused.
"""

from __future__ import annotations

import dataclasses
import math
import types
import typing
from typing import Any, Union

from nstlib.errors import ConfigError


def is_list(kind: Any) -> bool:
    return typing.get_origin(kind) is list


def _union_args(kind: Any) -> tuple[Any, ...]:
    if typing.get_origin(kind) in (Union, types.UnionType):
        return typing.get_args(kind)
    return (kind,)


def coerce(name: str, value: Any, kind: Any) -> Any:
    """Convert `value` (possibly a string from a CLI or YAML) to `kind`, or raise ConfigError."""
    errors = []
    for option in _union_args(kind):
        try:
            return _coerce_one(value, option)
        except (TypeError, ValueError) as e:
            errors.append(str(e))
    raise ConfigError(f"{name}: {'; '.join(errors)}")


def _coerce_one(value: Any, kind: Any) -> Any:
    if is_list(kind):
        (item,) = typing.get_args(kind)
        if isinstance(value, str):
            value = [v.strip() for v in value.split(",") if v.strip()] if value.strip() not in ("", "[]") else []
        if isinstance(value, tuple):
            value = list(value)
        if not isinstance(value, list):
            raise TypeError(f"expected a list of {item.__name__}, got {value!r}")
        return [_coerce_one(v, item) for v in value]
    if kind is bool:
        if isinstance(value, bool):
            return value
        if isinstance(value, str) and value.lower() in ("true", "yes", "1", "on", "false", "no", "0", "off"):
            return value.lower() in ("true", "yes", "1", "on")
        raise TypeError(f"expected true or false, got {value!r}")
    if kind is int:
        if isinstance(value, bool):
            raise TypeError(f"expected an integer, got {value!r}")
        if isinstance(value, float) and value.is_integer():
            return int(value)
        if isinstance(value, int):
            return value
        if isinstance(value, str):
            try:
                return int(value)
            except ValueError:
                try:
                    number = float(value)  # "1e3" is a fine integer
                except ValueError:
                    number = math.nan
                if number.is_integer():
                    return int(number)
        raise TypeError(f"expected an integer, got {value!r}")
    if kind is float:
        if isinstance(value, bool):
            raise TypeError(f"expected a number, got {value!r}")
        try:
            number = float(value)
        except (TypeError, ValueError):
            raise TypeError(f"expected a number, got {value!r}") from None
        if not math.isfinite(number):
            raise ValueError(f"expected a finite number, got {value!r}")
        return number
    if kind is str:
        if not isinstance(value, str):
            raise TypeError(f"expected a string, got {value!r}")
        return value
    raise TypeError(f"unsupported type {kind!r}")


def refuse_repeats(name: str, values: list[Any]) -> None:
    """A ConfigError naming the first value listed twice."""
    seen = set()
    for value in values:
        if value in seen:
            raise ConfigError(f"{name}: {value!r} is listed twice; give each once")
        seen.add(value)


def check_field(f: dataclasses.Field[Any], value: Any) -> None:
    """A ConfigError when a Config field's value is outside its `choices`, `minimum` or `maximum`."""
    choices = f.metadata.get("choices")
    if choices and value not in choices:
        raise ConfigError(f"{f.name}: {value!r} is not one of {', '.join(choices)}")
    minimum = f.metadata.get("minimum")
    if minimum is not None:
        values = value if isinstance(value, list) else [value] if not isinstance(value, str) else []
        for v in values:
            if v < minimum:
                raise ConfigError(f"{f.name}: must be >= {minimum:g}, got {v!r}")
    maximum = f.metadata.get("maximum")
    if maximum is not None and not isinstance(value, (str, list)) and value > maximum:
        raise ConfigError(f"{f.name}: must be <= {maximum}, got {value!r}")
