"""The mean/std loss against its formula."""

from __future__ import annotations

import pytest
import torch

from nstlib.losses.style import mean_std as ms
from nstlib.losses.style.base import moments


def test_mean_std_formula():
    f, s = torch.randn(2, 4, 3, 5), torch.randn(2, 4, 6, 6)
    p = torch.full((2, 15), 1 / 15)
    target = ms.mean_std_target(*moments(s, torch.full((2, 36), 1 / 36), full=False))
    loss = ms.mean_std_loss(f, target, p)
    for b in range(2):
        mu, sd = f[b].flatten(1).mean(1), f[b].flatten(1).std(1, unbiased=False)
        mu_s, sd_s = s[b].flatten(1).mean(1), s[b].flatten(1).std(1, unbiased=False)
        expected = (((mu - mu_s) ** 2).sum() + ((sd - sd_s) ** 2).sum()) / 4
        assert loss[b].item() == pytest.approx(expected.item(), rel=1e-4)
