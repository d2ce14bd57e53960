"""The style losses, one module each behind one interface (base.StyleLoss), found by their catalog name.

A new loss is a module losses/style/<name>.py defining `LOSS`, an instance of a `StyleLoss` subclass with that
`name`, and a row in controls.STYLE_LOSS_CATALOG (its β scale and memory); every path of a run (whole image,
batched, masked, tiled) reaches it through `lookup`.
"""

from __future__ import annotations

from nstlib.controls import STYLE_LOSSES
from nstlib.losses.registry import load
from nstlib.losses.style.base import StyleLoss


def lookup(name: str) -> StyleLoss:
    """The style loss named `name` in the catalog."""
    return load(__name__, "style_loss", STYLE_LOSSES, StyleLoss, name)
