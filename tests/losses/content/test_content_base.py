"""The contract every content loss in the catalog keeps: found by its name, a Config choice with its own α scale,
one value per sample, zero at the content's own features and positive away from them."""

from __future__ import annotations

import pytest
import torch

import nstlib
from nstlib.controls import CONTENT_LOSS_CATALOG, CONTENT_LOSSES
from nstlib.losses.content import lookup


def test_every_catalog_loss_is_a_config_choice_with_its_own_scale():
    assert nstlib.Config.__dataclass_fields__["content_loss"].metadata["choices"] == CONTENT_LOSSES
    assert CONTENT_LOSS_CATALOG["mse"].alpha_scale == 1.0
    assert all(e.alpha_scale > 0 for e in CONTENT_LOSS_CATALOG.values())


def test_an_unknown_name_names_the_choices():
    with pytest.raises(ValueError, match="content_loss: 'msee' is not one of mse, self_similarity"):
        lookup("msee")


@pytest.mark.parametrize("name", CONTENT_LOSSES)
def test_zero_at_the_content_and_positive_away(name):
    loss = lookup(name)
    gen = torch.Generator().manual_seed(3)
    p = torch.rand(3, 4, 6, 7, generator=gen)
    assert loss.name == name
    own = loss.loss(p, p)
    assert own.shape == (3,) and own.abs().max().item() < 1e-6
    other = loss.loss(torch.rand(3, 4, 6, 7, generator=gen) ** 3, p)
    assert bool((other > 1e-4).all()), other
