"""The contract every style loss in the catalog keeps, whatever path of a run calls it: found by its name,
zero at its own statistics and positive away from them, blends of a style with itself are the style, an
all-ones mask is no mask, and (unless it needs whole maps) its value from sums over tiles is its value."""

from __future__ import annotations

import pytest
import torch

import nstlib
from nstlib.controls import STYLE_LOSS_CATALOG, STYLE_LOSSES
from nstlib.losses.style import lookup
from nstlib.model.tiles import Sums

LAYER = "relu3_1"  # a layer every loss has a term at


def test_every_catalog_loss_is_a_config_choice_with_its_own_scale():
    assert nstlib.Config.__dataclass_fields__["style_loss"].metadata["choices"] == tuple(STYLE_LOSS_CATALOG)
    assert STYLE_LOSS_CATALOG["gram"].beta_scale == 1.0 and STYLE_LOSS_CATALOG["gram"].memory_copies == 0.0
    assert all(e.beta_scale > 0 and e.memory_copies >= 0 for e in STYLE_LOSS_CATALOG.values())


def test_an_unknown_name_names_the_choices():
    with pytest.raises(ValueError, match="style_loss: 'gramm' is not one of gram, mean_std, w2, mrf, sliced_w, remd"):
        lookup("gramm")


def _targets(name: str, styles: torch.Tensor, blend_twice: bool = False) -> object:
    loss, m = lookup(name), styles.shape[2] * styles.shape[3]
    rows = []
    for b in range(styles.shape[0]):
        stats = loss.statistics(styles[b : b + 1], None, LAYER)
        rows.append(loss.target([stats, stats], [0.5, 0.5], m) if blend_twice else loss.target([stats], [1.0], m))
    return loss.stack(rows)


def _value(out: torch.Tensor) -> torch.Tensor:
    return out.detach().double()


@pytest.mark.parametrize("name", STYLE_LOSSES)
def test_zero_at_its_own_statistics_and_positive_away(name):
    loss = lookup(name)
    assert loss.name == name and loss.applies(LAYER)
    gen = torch.Generator().manual_seed(len(name))
    f = torch.rand(2, 4, 6, 7, generator=gen) * 2  # non-negative, as after a ReLU
    own = loss.loss(f, _targets(name, f), None)
    assert own.shape == (2,) and own.abs().max().item() < 1e-3 * max(1.0, float(_value(own).abs().max()))
    other = loss.loss(f, _targets(name, torch.rand(2, 4, 5, 5, generator=gen) ** 3 * 3), None)
    assert bool((other > 10 * own.abs() + 1e-6).all()), (own, other)


@pytest.mark.parametrize("name", STYLE_LOSSES)
def test_a_blend_of_a_style_with_itself_is_the_style_and_a_full_mask_is_none(name):
    loss = lookup(name)
    gen = torch.Generator().manual_seed(7)
    f, s = torch.rand(2, 4, 6, 6, generator=gen), torch.rand(2, 4, 5, 7, generator=gen) ** 2
    plain = loss.loss(f, _targets(name, s), None)
    torch.testing.assert_close(loss.loss(f, _targets(name, s, blend_twice=True), None), plain, rtol=1e-4, atol=1e-6)
    torch.testing.assert_close(loss.loss(f, _targets(name, s), torch.ones(2, 1, 6, 6)), plain, rtol=1e-4, atol=1e-6)


@pytest.mark.parametrize("name", [n for n in STYLE_LOSSES if not lookup(n).whole_map])
def test_the_value_from_sums_over_tiles_is_the_value_on_the_whole_map(name):
    """A tiled run adds the sums tile by tile (tiles.Sums) and asks the loss for its value from them."""
    loss = lookup(name)
    gen = torch.Generator().manual_seed(11)
    f, s = torch.rand(2, 4, 6, 8, generator=gen), torch.rand(2, 4, 5, 5, generator=gen) ** 2
    mask = torch.rand(2, 1, 6, 8, generator=gen)
    target = _targets(name, s)
    sums = Sums(None, loss.sum_weights(mask, f.shape[:1] + (1,) + f.shape[2:], f.device), loss.uses_mean, loss.diagonal)
    for cols in (slice(0, 3), slice(3, 8)):  # two tiles
        sums.add(f[..., cols], (slice(None), cols))
    assert sums.s2 is not None
    from_sums = loss.loss_from_sums(sums.s1, sums.s2, target, 48)
    torch.testing.assert_close(from_sums, loss.loss(f, target, mask), rtol=1e-4, atol=1e-6)


@pytest.mark.parametrize("name", STYLE_LOSSES)
def test_working_memory_is_never_negative_and_none_where_it_has_no_term(name):
    loss = lookup(name)
    assert loss.working_values(LAYER, 100.0, early_on_tiles=False) >= 100.0 * (not loss.whole_map)
    assert loss.working_values(LAYER, 100.0, early_on_tiles=True) >= 0.0
    shallow = "relu1_1"
    if not loss.applies(shallow):
        assert loss.working_values(shallow, 100.0, early_on_tiles=False) == 0.0
