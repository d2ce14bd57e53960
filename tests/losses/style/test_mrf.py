"""The MRF loss against Li & Wand's formula."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from nstlib.losses.style import mrf


def test_mrf_formula_nearest_patch_by_ncc():
    f, s = torch.randn(1, 2, 4, 4), torch.randn(1, 2, 5, 5)
    patches, unit = mrf.mrf_target(s, None)
    loss = mrf.mrf_loss(f, [(patches, unit)], torch.full((1, 16), 1 / 16))
    mine = torch.nn.functional.unfold(torch.nn.functional.pad(f, (1, 1, 1, 1), mode="replicate"), 3)[0]  # 18×16
    total = 0.0
    for i in range(mine.shape[1]):
        ncc = [float(mine[:, i] @ patches[:, j] / (mine[:, i].norm() * patches[:, j].norm())) for j in range(25)]
        total += float(((mine[:, i] - patches[:, int(np.argmax(ncc))]) ** 2).sum()) / 16
    assert loss.item() == pytest.approx(total / 18, rel=1e-5)
    assert mrf.mrf_loss(s, [mrf.mrf_target(s, None)], torch.full((1, 25), 1 / 25)).item() == pytest.approx(0, abs=1e-6)
