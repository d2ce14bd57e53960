"""Mask propagation to a layer (Gatys et al. 2017, Sec. 4.1)."""

from __future__ import annotations

import torch

from nstlib.losses.masks import propagate


def test_inside_propagation_erodes_simple_resizes():
    mask = torch.zeros(1, 1, 64, 64)
    mask[..., :32] = 1.0
    simple, inside = propagate(mask, "vgg19", "relu3_1", "simple"), propagate(mask, "vgg19", "relu3_1", "inside")
    assert simple.shape == inside.shape == (1, 1, 16, 16)
    assert simple[..., :8].min() == 1 and simple[..., 8:].max() == 0
    assert inside.sum() < simple.sum() and inside[..., :5].min() == 1 and inside[..., 7:].max() == 0
    assert propagate(torch.ones(1, 1, 64, 64), "vgg19", "relu5_1", "inside").min() == 1  # borders do not erode
