"""The style-loss family beyond the paper's Gram loss, batched: one value per (virtual) sample.

Each loss compares the generated image's features F (V×N×H×W) at one layer with targets computed
once from the style image, optionally over a weighted region: p (V×M, each row summing to 1) weighs
the positions (Gatys et al. 2017 Sec. 4 spatial control; None: uniform, p_k = 1/M). All in fp32.

- "mean_std": per-channel mean and standard deviation (Huang & Belongie 2017; Li et al. 2017,
  "Demystifying neural style transfer", the BN-statistics kernel).
- "w2": the Wasserstein-2 distance between Gaussian fits N(μ, Σ) of the feature distributions,
  in closed form (Dowson & Landau 1982; as a style loss: Kolkin et al. 2019, Vacher et al. 2020).
- "mrf": nearest-neighbour patch matching by normalised cross-correlation (Li & Wand, CVPR 2016).

The targets are built from raw moments (μ, E[f fᵀ]), which blend linearly across style images:
the blend of several styles is the moment-matched distribution of their mixture.
"""

from __future__ import annotations

import re
from typing import Any

import torch
import torch.nn.functional as F

from nstlib.controls import STYLE_LOSSES

MRF_MIN_BLOCK = 3  # Li & Wand match patches on relu3_1 and relu4_1; shallower layers are too large to match
MRF_MAX_PATCHES = 4096  # style patches per target; the style grid is strided beyond this (cost ∝ patches²)
EPS = 1e-8


def layer_block(layer: str) -> int:
    """The VGG block of a layer name: relu3_1 → 3, pool2 → 2."""
    found = re.search(r"\d+", layer)
    return int(found.group()) if found else 0


def mrf_applies(layer: str) -> bool:
    return layer_block(layer) >= MRF_MIN_BLOCK


def position_weights(mask: torch.Tensor | None, shape: torch.Size, device: torch.device) -> torch.Tensor:
    """p (V×M), rows summing to 1, from a mask V×1×H×W (None: uniform)."""
    v, m = shape[0], shape[2] * shape[3]
    if mask is None:
        return torch.full((v, m), 1.0 / m, device=device)
    w = mask.float().reshape(v, m)
    return w / w.sum(1, keepdim=True).clamp_min(EPS)


def _flat(features: torch.Tensor) -> torch.Tensor:
    """F as V×N×M in fp32."""
    return features.float().flatten(2)


def moments(features: torch.Tensor, p: torch.Tensor, full: bool) -> tuple[torch.Tensor, torch.Tensor]:
    """μ = Σ_k p_k f_k (V×N) and the raw second moment E_p[f fᵀ] (V×N×N) or, if not `full`, E_p[f²] (V×N)."""
    f = _flat(features)
    p = p.to(f.device)
    mu = torch.einsum("vnm,vm->vn", f, p)
    if full:
        fp = f * p.sqrt().unsqueeze(1)
        return mu, torch.bmm(fp, fp.transpose(1, 2))
    return mu, torch.einsum("vnm,vm->vn", f * f, p)


# ---- mean_std -----------------------------------------------------------------------------------
def mean_std_target(mu: torch.Tensor, second: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """(μ_s, σ_s) from raw moments: σ² = E[f²] − μ²."""
    return mu, (second - mu * mu).clamp_min(0).add(EPS).sqrt()


def mean_std_loss(features: torch.Tensor, target: tuple[torch.Tensor, torch.Tensor], p: torch.Tensor) -> torch.Tensor:
    """E_l = (1/N) Σ_i [(μ_i − μ_s,i)² + (σ_i − σ_s,i)²] per sample, μ_i, σ_i the (p-weighted) mean and
    standard deviation of channel i (Li et al. 2017, Eq. 8: matching batch-norm statistics; Huang &
    Belongie 2017 use the same statistics in AdaIN's style loss)."""
    mu, second = moments(features, p, full=False)
    return mean_std_from_moments(mu, second, target)


def mean_std_from_moments(
    mu: torch.Tensor, second: torch.Tensor, target: tuple[torch.Tensor, torch.Tensor]
) -> torch.Tensor:
    """`mean_std_loss` from the generated image's moments μ (V×N) and E_p[f²] (V×N)."""
    sigma = (second - mu * mu).clamp_min(0).add(EPS).sqrt()
    mu_s, sigma_s = target
    return ((mu - mu_s).pow(2).sum(1) + (sigma - sigma_s).pow(2).sum(1)) / mu.shape[1]


# ---- w2 -----------------------------------------------------------------------------------------
def _sqrtm_psd(matrix: torch.Tensor) -> torch.Tensor:
    """Σ^{1/2} of symmetric PSD matrices (no gradient needed: targets only)."""
    values, vectors = torch.linalg.eigh(matrix.double())
    root = vectors * values.clamp_min(0).sqrt().unsqueeze(-2)
    return (root @ vectors.transpose(-1, -2)).float()


def w2_target(mu: torch.Tensor, second: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """(μ_s, tr Σ_s, Σ_s^{1/2}) from raw moments: Σ_s = E[f fᵀ] − μ μᵀ."""
    cov = second - mu.unsqueeze(2) * mu.unsqueeze(1)
    cov = 0.5 * (cov + cov.transpose(1, 2))
    return mu, cov.diagonal(dim1=1, dim2=2).sum(1), _sqrtm_psd(cov)


class _NuclearNorm(torch.autograd.Function):
    """‖A X‖_* per sample (A V×N×N, X V×N×M) through the QR of Xᵀ = Q R: the singular values of A X are those of
    A Rᵀ (N×N when M ≥ N), and the gradient is Aᵀ U Vᵀ Qᵀ with A Rᵀ = U S Vᵀ: as svdvals(A X).sum(1)'s, without
    differentiating the QR (whose gradient is undefined where X is rank-deficient, e.g. a dead ReLU channel)."""

    @staticmethod
    def forward(ctx: Any, a: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
        q, r = torch.linalg.qr(x.transpose(1, 2))
        u, s, vh = torch.linalg.svd(torch.bmm(a, r.transpose(1, 2)), full_matrices=False)
        ctx.save_for_backward(a, q, u, vh)
        return s.sum(1)

    @staticmethod
    def backward(ctx: Any, grad: torch.Tensor) -> tuple[None, torch.Tensor]:
        a, q, u, vh = ctx.saved_tensors
        g = torch.bmm(a.transpose(1, 2), torch.bmm(u, vh)) * grad.view(-1, 1, 1)
        return None, torch.bmm(g, q.transpose(1, 2))


def w2_cross(root_s: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
    """‖Σ_s^{1/2} X‖_* per sample (V×N×N, V×N×M): the value and gradient of svdvals(Σ_s^{1/2} X).sum(1),
    with an SVD of N×N instead of N×M (tests/losses/test_style.py checks both)."""
    out: torch.Tensor = _NuclearNorm.apply(root_s, x)
    return out


def w2_loss(
    features: torch.Tensor, target: tuple[torch.Tensor, torch.Tensor, torch.Tensor], p: torch.Tensor
) -> torch.Tensor:
    """E_l = (1/N) W₂²(N(μ, Σ), N(μ_s, Σ_s)) per sample, with the closed form (Dowson & Landau 1982)

        W₂² = ‖μ − μ_s‖² + tr Σ + tr Σ_s − 2 tr (Σ_s^{1/2} Σ Σ_s^{1/2})^{1/2}.

    With X = (F − μ) diag(√p) (so Σ = X Xᵀ) the last trace is the nuclear norm ‖Σ_s^{1/2} X‖_*, the sum
    of singular values, whose gradient U Vᵀ stays finite where an eigendecomposition's would not.
    X is N×M with M (positions) ≫ N at shallow layers: with Xᵀ = Q R (reduced QR, Q orthonormal columns),
    ‖Σ_s^{1/2} X‖_* = ‖Σ_s^{1/2} Rᵀ‖_*, an N×N (or N×M if M < N) SVD instead of an N×M one.
    """
    f = _flat(features)
    p = p.to(f.device)
    mu = torch.einsum("vnm,vm->vn", f, p)
    x = (f - mu.unsqueeze(2)) * p.sqrt().unsqueeze(1)
    mu_s, trace_s, root_s = target
    cross = w2_cross(root_s, x)
    w2 = (mu - mu_s).pow(2).sum(1) + x.pow(2).sum((1, 2)) + trace_s - 2.0 * cross
    return w2 / features.shape[1]


class _TraceSqrt(torch.autograd.Function):
    """tr (A Σ A)^{1/2} per sample (A symmetric, Σ PSD, V×N×N), = ‖A X‖_* for any X with X Xᵀ = Σ, with the gradient
    ½ A (A Σ A)^{+1/2} A: the pseudo-inverse root on its range, so rank-deficient Σ (a dead ReLU channel) give the
    nuclear norm's finite gradient (2 · this · X is w2_cross's A U Vᵀ Qᵀ)."""

    @staticmethod
    def forward(ctx: Any, a: torch.Tensor, cov: torch.Tensor) -> torch.Tensor:
        a64 = a.double()
        m = a64 @ cov.double() @ a64
        values, vectors = torch.linalg.eigh(0.5 * (m + m.transpose(1, 2)))
        root = values.clamp_min(0).sqrt()
        # eigenvalues at fp64 round-off of the largest are the null space of a rank-deficient Σ
        keep = values > values[:, -1:].clamp_min(0) * 1e-12
        ctx.save_for_backward(a64, vectors, torch.where(keep, 1.0 / root.clamp_min(1e-300), 0.0))
        return root.sum(1).to(cov.dtype)

    @staticmethod
    def backward(ctx: Any, grad: torch.Tensor) -> tuple[None, torch.Tensor]:
        a, vectors, inverse_root = ctx.saved_tensors
        pinv_root = (vectors * inverse_root.unsqueeze(1)) @ vectors.transpose(1, 2)
        out = 0.5 * (a @ pinv_root @ a) * grad.double().view(-1, 1, 1)
        return None, out.to(grad.dtype)


def w2_from_moments(
    mu: torch.Tensor, second: torch.Tensor, target: tuple[torch.Tensor, torch.Tensor, torch.Tensor]
) -> torch.Tensor:
    """`w2_loss` from the generated image's moments μ (V×N) and E_p[f fᵀ] (V×N×N), Σ = E_p[f fᵀ] − μ μᵀ: the
    closed form on N×N matrices, for features that are never whole (tiles)."""
    mu_s, trace_s, root_s = target
    cov = second - mu.unsqueeze(2) * mu.unsqueeze(1)
    cov = 0.5 * (cov + cov.transpose(1, 2))
    cross: torch.Tensor = _TraceSqrt.apply(root_s, cov)
    w2 = (mu - mu_s).pow(2).sum(1) + cov.diagonal(dim1=1, dim2=2).sum(1) + trace_s - 2.0 * cross
    return w2 / mu.shape[1]


# ---- mrf ----------------------------------------------------------------------------------------
def _patches(features: torch.Tensor, stride: int = 1) -> torch.Tensor:
    """3×3 patches Ψ(F) as V×(9N)×L (Li & Wand use 3×3 patches), one centred on every `stride`-th position:
    the map is padded by replication so that small deep maps (under 3×3) and border positions have patches."""
    return F.unfold(F.pad(features.float(), (1, 1, 1, 1), mode="replicate"), 3, stride=stride)


def mrf_target(features: torch.Tensor, mask: torch.Tensor | None) -> tuple[torch.Tensor, torch.Tensor]:
    """The style patches of one style image (1×N×H×W) whose centre lies in its region (mask > ½),
    strided to at most MRF_MAX_PATCHES: (patches 9N×L_s, the same normalised to unit length)."""
    h, w = features.shape[-2:]
    stride = 1
    while -(-h // stride) * -(-w // stride) > MRF_MAX_PATCHES:
        stride += 1
    patches = _patches(features, stride)[0]
    if mask is not None:
        centre = mask.float()[:, :, ::stride, ::stride].reshape(-1)
        if bool((centre > 0.5).any()):
            patches = patches[:, centre > 0.5]
    return patches, patches / patches.norm(dim=0, keepdim=True).clamp_min(EPS)


def mrf_loss(features: torch.Tensor, targets: list[tuple[torch.Tensor, torch.Tensor]], p: torch.Tensor) -> torch.Tensor:
    """E_l = Σ_i p_i ‖Ψ_i(F) − Ψ_NN(i)(F_s)‖² / (9N) per sample (Li & Wand 2016, Eq. 2, as a weighted mean
    over patches), NN(i) = argmax_j ⟨Ψ_i(F), Ψ_j(F_s)⟩ / (‖Ψ_i(F)‖ ‖Ψ_j(F_s)‖) (their Eq. 3: normalised
    cross-correlation). p weighs the patches by their centre."""
    n = features.shape[1]
    patches = _patches(features)  # V×9N×M
    centre = p.to(patches.device)
    out = []
    for i, (style, style_unit) in enumerate(targets):
        mine = patches[i]
        with torch.no_grad():
            unit = mine / mine.norm(dim=0, keepdim=True).clamp_min(EPS)
            nearest = torch.cat([(style_unit.T @ chunk).argmax(0) for chunk in unit.split(2048, dim=1)])
        out.append(((mine - style[:, nearest]).pow(2).sum(0) * centre[i]).sum() / (9 * n))
    return torch.stack(out)


# ---- dispatch -----------------------------------------------------------------------------------
def family_loss(kind: str, features: torch.Tensor, target: Any, mask: torch.Tensor | None) -> torch.Tensor:
    """The `kind` loss (mean_std, w2 or mrf) of features V×N×H×W against per-sample targets."""
    p = position_weights(mask, features.shape, features.device)
    if kind == "mean_std":
        return mean_std_loss(features, target, p)
    if kind == "w2":
        return w2_loss(features, target, p)
    if kind == "mrf":
        return mrf_loss(features, target, p)
    raise ValueError(f"style_loss: {kind!r} is not one of {', '.join(STYLE_LOSSES)}")


class _NormalizeGradient(torch.autograd.Function):
    """Identity forward; backward g → w · g / (‖g‖₁ + 1e-8) per sample (neural-style's -normalize_gradients:
    each loss module divides its gradient by its L1 norm, then applies its weight)."""

    @staticmethod
    def forward(ctx: Any, features: torch.Tensor, weight: torch.Tensor) -> torch.Tensor:
        ctx.save_for_backward(weight)
        return features.view_as(features)

    @staticmethod
    def backward(ctx: Any, grad: torch.Tensor) -> tuple[torch.Tensor, None]:
        (weight,) = ctx.saved_tensors
        shape = (-1,) + (1,) * (grad.dim() - 1)
        norm = grad.float().abs().flatten(1).sum(1).add(1e-8)
        return grad * (weight.float() / norm).view(shape).to(grad.dtype), None


def normalize_gradient(features: torch.Tensor, weight: torch.Tensor) -> torch.Tensor:
    """`features` whose gradient (which carries the loss weight w) is rescaled to L1 norm w per sample."""
    out: torch.Tensor = _NormalizeGradient.apply(features, weight)
    return out
