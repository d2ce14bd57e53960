"""Losses found by their catalog name: the module `<package>.<name>` defines `LOSS`, loaded on first use."""

from __future__ import annotations

import importlib
from collections.abc import Sequence
from typing import Any

_LOADED: dict[tuple[str, str], object] = {}


def load(package: str, parameter: str, names: Sequence[str], kind: type, name: str) -> Any:
    """`<package>.<name>.LOSS`, an instance of `kind` named `name`; a ValueError naming `parameter` and the
    choices for a name not in the catalog."""
    if name not in names:
        raise ValueError(f"{parameter}: {name!r} is not one of {', '.join(names)}")
    if (package, name) not in _LOADED:
        loss = importlib.import_module(f"{package}.{name}").LOSS
        assert isinstance(loss, kind) and getattr(loss, "name", None) == name, f"{package}.{name}.LOSS is not {name!r}"
        _LOADED[package, name] = loss
    return _LOADED[package, name]
