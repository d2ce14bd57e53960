"""The paper's content loss (Eq. 1) against a loop over the features."""

from __future__ import annotations

import pytest
import torch

from nstlib.losses.content import lookup


def test_half_the_squared_error_per_sample():
    gen = torch.Generator().manual_seed(0)
    f, p = torch.rand(2, 3, 4, 5, generator=gen), torch.rand(2, 3, 4, 5, generator=gen)
    value = lookup("mse").loss(f, p)
    for b in range(2):
        expected = sum(float(f[b, n, i, j] - p[b, n, i, j]) ** 2 for n in range(3) for i in range(4) for j in range(5))
        assert value[b].item() == pytest.approx(0.5 * expected, rel=1e-5)
