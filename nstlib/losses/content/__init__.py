"""The content losses, one module each behind one interface (base.ContentLoss), found by their catalog name
(controls.CONTENT_LOSS_CATALOG), and the Laplacian content term (laplacian.py), which compares pixels."""

from __future__ import annotations

from nstlib.controls import CONTENT_LOSSES
from nstlib.losses.content.base import ContentLoss
from nstlib.losses.registry import load


def lookup(name: str) -> ContentLoss:
    """The content loss named `name` in the catalog."""
    return load(__name__, "content_loss", CONTENT_LOSSES, ContentLoss, name)
