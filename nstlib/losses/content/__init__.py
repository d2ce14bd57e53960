"""The content losses, one module each behind one interface (base.ContentLoss), found by their catalog name
(controls.CONTENT_LOSS_CATALOG), and the Laplacian content term (laplacian.py), which compares pixels."""

from __future__ import annotations

import importlib

from nstlib.controls import CONTENT_LOSSES
from nstlib.losses.content.base import ContentLoss

_LOADED: dict[str, ContentLoss] = {}


def lookup(name: str) -> ContentLoss:
    """The content loss named `name` in the catalog."""
    if name not in CONTENT_LOSSES:
        raise ValueError(f"content_loss: {name!r} is not one of {', '.join(CONTENT_LOSSES)}")
    if name not in _LOADED:
        loss = importlib.import_module(f"{__name__}.{name}").LOSS
        assert isinstance(loss, ContentLoss) and loss.name == name, f"{__name__}.{name}.LOSS is not the {name!r} loss"
        _LOADED[name] = loss
    return _LOADED[name]
