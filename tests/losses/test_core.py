import itertools

import pytest
import torch

import nstlib
from nstlib.losses.core import LossWeights, Targets, total_loss


def test_gram_matrix_is_f_ft():
    f = torch.randn(2, 3, 4, 5)
    g = nstlib.gram_matrix(f)
    assert g.shape == (2, 3, 3)
    for b, i, j in itertools.product(range(2), range(3), range(3)):
        expected = sum(float(f[b, i, y, x] * f[b, j, y, x]) for y in range(4) for x in range(5))
        assert g[b, i, j].item() == pytest.approx(expected, rel=1e-5, abs=1e-5)


def test_content_loss_formula_per_sample():
    f, p = torch.randn(3, 4, 2, 2), torch.randn(3, 4, 2, 2)
    loss = nstlib.content_loss(f, p)
    assert loss.shape == (3,)
    for b in range(3):
        assert loss[b].item() == pytest.approx(0.5 * float(((f[b] - p[b]) ** 2).sum()), rel=1e-5)


def test_style_loss_formula_per_sample():
    f = torch.randn(2, 3, 4, 5)
    a = torch.randn(2, 3, 3)
    loss = nstlib.style_loss(f, a)
    n, m = 3, 20
    for b in range(2):
        g = f[b].reshape(3, -1) @ f[b].reshape(3, -1).T
        expected = float(((g - a[b]) ** 2).sum()) / (4 * n**2 * m**2)
        assert loss[b].item() == pytest.approx(expected, rel=1e-5)


def test_style_loss_zero_at_own_gram_and_batch_independent():
    f = torch.randn(2, 8, 6, 6)
    a = nstlib.gram_matrix(f)
    assert torch.allclose(nstlib.style_loss(f, a), torch.zeros(2), atol=1e-6)
    g = f.clone()
    g[1] += 1.0
    loss = nstlib.style_loss(g, a)
    assert loss[0].item() == pytest.approx(0.0, abs=1e-6) and loss[1].item() > 0


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


def test_style_loss_gradient_is_eq6():
    """∂E/∂F = (F Fᵀ − A) F / (N² M²) (Eq. 6), against autograd through the plain formula."""
    f = torch.randn(2, 4, 3, 5, dtype=torch.float32, requires_grad=True)
    g0 = torch.randn(2, 4, 6)
    a = torch.bmm(g0, g0.transpose(1, 2))
    (grad,) = torch.autograd.grad((nstlib.style_loss(f, a) * torch.tensor([1.0, 3.0])).sum(), f)
    ff = f.detach().flatten(2)
    expected = torch.bmm(torch.bmm(ff, ff.transpose(1, 2)) - a, ff) / (16 * 15**2)
    expected = expected * torch.tensor([1.0, 3.0]).view(2, 1, 1)
    assert torch.allclose(grad.flatten(2), expected, rtol=1e-4, atol=1e-6)
