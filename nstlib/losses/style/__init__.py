"""The style losses, one module each behind one interface (base.StyleLoss), found by their catalog name.

A new loss is a module losses/style/<name>.py defining `LOSS`, an instance of a `StyleLoss` subclass with that
`name`, and a row in controls.STYLE_LOSS_CATALOG (its β scale and memory); every path of a run (whole image,
batched, masked, tiled) reaches it through `lookup`.
"""

from __future__ import annotations

import importlib

from nstlib.controls import STYLE_LOSSES
from nstlib.losses.style.base import StyleLoss

_LOADED: dict[str, StyleLoss] = {}


def lookup(name: str) -> StyleLoss:
    """The style loss named `name` in the catalog."""
    if name not in STYLE_LOSSES:
        raise ValueError(f"style_loss: {name!r} is not one of {', '.join(STYLE_LOSSES)}")
    if name not in _LOADED:
        loss = importlib.import_module(f"{__name__}.{name}").LOSS
        assert isinstance(loss, StyleLoss) and loss.name == name, f"{__name__}.{name}.LOSS is not the {name!r} loss"
        _LOADED[name] = loss
    return _LOADED[name]
