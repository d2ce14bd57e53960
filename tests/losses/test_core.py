"""The content, TV and total losses (Eq. 1, 7), per sample, and neural-style's gradient normalisation."""

from __future__ import annotations


import pytest
import torch

import nstlib
from nstlib.losses.core import LossWeights, Targets, normalize_gradient, total_loss


def test_content_loss_formula_per_sample():
    f, p = torch.randn(3, 4, 2, 2), torch.randn(3, 4, 2, 2)
    loss = nstlib.content_loss(f, p)
    assert loss.shape == (3,)
    for b in range(3):
        assert loss[b].item() == pytest.approx(0.5 * float(((f[b] - p[b]) ** 2).sum()), rel=1e-5)


def test_tv_loss_formula():
    x = torch.rand(2, 3, 4, 5)
    tv = nstlib.tv_loss(x)
    for b in range(2):
        dx = sum(float((x[b, c, i, j + 1] - x[b, c, i, j]) ** 2) for c in range(3) for i in range(4) for j in range(4))
        dy = sum(float((x[b, c, i + 1, j] - x[b, c, i, j]) ** 2) for c in range(3) for i in range(3) for j in range(5))
        assert tv[b].item() == pytest.approx(dx + dy, rel=1e-5)
    assert nstlib.tv_loss(torch.full((1, 3, 4, 4), 0.3)).item() == 0.0


def test_total_loss_weights_eq7():
    feats = {"a": torch.randn(2, 4, 3, 3), "b": torch.randn(2, 5, 2, 2)}
    images = torch.rand(2, 3, 6, 6)
    targets = Targets({"a": torch.randn(2, 4, 3, 3)}, {"a": torch.randn(2, 4, 4), "b": torch.randn(2, 5, 5)})
    w = LossWeights(
        content=torch.tensor([1.0, 2.0]),
        style=torch.tensor([1e3, 10.0]),
        tv=torch.tensor([0.5, 0.0]),
        content_layers=torch.tensor([[1.0], [1.0]]),
        style_layers=torch.tensor([[0.5, 0.5], [0.2, 0.8]]),
    )
    terms = total_loss(feats, images, targets, w)
    c = nstlib.content_loss(feats["a"], targets.content["a"])
    sa, sb = nstlib.style_loss(feats["a"], targets.style["a"]), nstlib.style_loss(feats["b"], targets.style["b"])
    tv = nstlib.tv_loss(images)
    expected = torch.stack(
        [1.0 * c[0] + 1e3 * (0.5 * sa[0] + 0.5 * sb[0]) + 0.5 * tv[0], 2.0 * c[1] + 10.0 * (0.2 * sa[1] + 0.8 * sb[1])]
    )
    assert torch.allclose(terms.total, expected, rtol=1e-5)
    assert torch.allclose(terms.layers["style_b"], sb)


def test_normalize_gradient_l1_norm_is_weight():
    x = torch.randn(2, 3, 4, 4, requires_grad=True)
    w = torch.tensor([2.0, 5.0])
    y = normalize_gradient(x, w)
    ((y * torch.randn_like(y)).sum() * 7).backward()
    assert torch.allclose(x.grad.abs().flatten(1).sum(1), w, rtol=1e-5)
