"""Scores of a finished image that do not depend on the run's parameters (docs/metrics.md).

Feature distances compare an image with its content and style images at fixed VGG-19 layers, on images
resized to METRIC_SIDE px, and divide by the reference's own size, so that they compare across β, style
losses, image sizes and optimisers (the run's losses do not: they scale with β and the image size):
- content distance: Σ_l ‖F_l − P_l‖² / ‖P_l‖² over CONTENT_LAYERS (Gatys et al. Eq. 1, relative);
- self-similarity distance: how far the image's pattern of which positions look alike is from the content's
  (the content term of STROTSS, Kolkin et al. 2019), at SELF_SIMILARITY_LAYERS on a ≤ GRID × GRID grid;
- SSIM and MS-SSIM against the content (Wang et al. 2004, 2003), through torchmetrics;
- Gram distance: mean over STYLE_LAYERS of ‖G_l/M_l − A_l/M'_l‖² / ‖A_l/M'_l‖² (Eq. 3–5 with Grams per
  position, so sizes need not match);
- mean/std distance: mean over STYLE_LAYERS of (‖μ − μ'‖² + ‖σ − σ'‖²) / (‖μ'‖² + ‖σ'‖²) of the channels
  (Huang & Belongie 2017's statistics);
- W2 distance: the Wasserstein-2 distance between Gaussian fits of the features (Dowson & Landau 1982),
  squared, over the style's ‖μ'‖² + tr Σ', mean over STYLE_LAYERS;
- colour distance: the sliced Wasserstein-1 distance between the pixel colours in CIE Lab;
- LPIPS against the content, only where its checkpoint files are on disk (learned.py).

The edge score and speckle, scored with the rest, need no reference: they are in artefacts.py.

`run_metrics` scores a finished run (all of METRIC_NAMES); `compute_run_metrics` does it for a run folder.
"""

from __future__ import annotations

import contextlib
import hashlib
import importlib
import math
import threading
import weakref
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path

import torch
import torch.nn.functional as F

from nstlib.config import from_dict
from nstlib.errors import ImageError, UserError, quoted
from nstlib.files import FolderLock, file_problem
from nstlib.images import load_image, resize, rgb_to_lab, scaled_size
from nstlib.record.artefacts import INNER, edge_score, speckle
from nstlib.record.learned import LEARNED_NAMES, learned_metrics
from nstlib.record.runs import RECORD, SAVED, RunFolder, RunRecord
from nstlib.record.runs import read_metrics as read_metrics  # re-exported: runs.py owns metrics.json

Features = Callable[[torch.Tensor], dict[str, torch.Tensor]]  # B×3×H×W in [0, 1] → {layer: B×N×h×w}
METRIC_SIDE = 256  # px: every image is resized to this longest side before VGG
MIN_SIDE = 32  # px: the short side at least (relu5_1 needs 16; MS-SSIM's 2 scales 22)
CONTENT_LAYERS = ("relu4_2",)
STYLE_LAYERS = ("relu1_1", "relu2_1", "relu3_1", "relu4_1", "relu5_1")
SELF_SIMILARITY_LAYERS = ("relu3_1", "relu4_1")
GRID = 32  # positions along the longest side of the self-similarity grid (at most GRID² positions)
SSIM_WINDOW = 11  # px: the Gaussian window (σ 1.5) of Wang et al. 2004, torchmetrics' default
MS_SSIM_BETAS = (0.0448, 0.2856, 0.3001, 0.2363, 0.1333)  # Wang et al. 2003's scale weights, finest first
PROJECTIONS = 64  # directions of the sliced colour distance
QUANTILES = 256  # levels at which its 1-D distributions are compared
CONTENT_METRICS = ("content_distance", "self_similarity_distance", "ssim", "ms_ssim", *LEARNED_NAMES)
METRIC_NAMES = (
    "content_distance",
    "self_similarity_distance",
    "ssim",
    "ms_ssim",
    "gram_distance",
    "mean_std_distance",
    "w2_distance",
    "colour_distance",
    "edge_score",
    "speckle",
    *LEARNED_NAMES,
)
STYLE_METRICS = ("gram_distance", "mean_std_distance", "w2_distance", "colour_distance")


def warm_up() -> None:
    """Import torchmetrics on a daemon thread, once per process: its import takes about half a second (it loads
    matplotlib), mostly under the GIL, while a run's steps spend their time in torch kernels that release it, so
    a run that starts this scores its image at the end without waiting for the import."""
    global _warming
    if _warming is None:
        _warming = threading.Thread(target=_import_torchmetrics, name="nstlib-metrics-import", daemon=True)
        _warming.start()


def _import_torchmetrics() -> None:
    with contextlib.suppress(ImportError):  # scoring imports it again and reports the error where it is needed
        importlib.import_module("torchmetrics.functional.image")


_warming: threading.Thread | None = None


def metric_features() -> Features:
    """The fixed network of the feature distances: the original VGG-19 with average pooling, fp32, CPU (built
    once per process: `build_extractor` caches it)."""
    from nstlib.model.vgg import build_extractor

    return build_extractor("vgg19", "original", [*CONTENT_LAYERS, *STYLE_LAYERS])


def at_metric_side(images: torch.Tensor) -> torch.Tensor:
    """`images` resized to METRIC_SIDE px on the longest side, or larger where the short side would fall under
    MIN_SIDE (a very elongated image)."""
    h, w = images.shape[-2:]
    longest = max(METRIC_SIDE, math.ceil(MIN_SIDE * max(h, w) / min(h, w)))
    return resize(images, scaled_size(h, w, longest))


def _with_content(images: torch.Tensor, content: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    images = at_metric_side(images)
    return images, resize(content, (images.shape[-2], images.shape[-1]))


def _flat(f: torch.Tensor) -> torch.Tensor:
    return f.float().flatten(2)  # B×N×M


def _trace(m: torch.Tensor) -> torch.Tensor:
    return m.diagonal(dim1=-2, dim2=-1).sum(-1)


# ---- against the content ------------------------------------------------------------------------------
def content_distance(features: Features, images: torch.Tensor, content: torch.Tensor) -> torch.Tensor:
    """Per image (B), the relative feature distance to `content` (1×3×H×W, resized to the images' size)."""
    images, content = _with_content(images, content)
    return _content(features(images), features(content))


def _content(a: dict[str, torch.Tensor], p: dict[str, torch.Tensor]) -> torch.Tensor:
    total = torch.zeros(a[CONTENT_LAYERS[0]].shape[0])
    for layer in CONTENT_LAYERS:
        fa, fp = _flat(a[layer]), _flat(p[layer])
        total = total + ((fa - fp) ** 2).sum((1, 2)) / (fp**2).sum((1, 2)).clamp(min=1e-12)
    return total


def self_similarity_distance(features: Features, images: torch.Tensor, content: torch.Tensor) -> torch.Tensor:
    """Per image (B), how differently from the content its positions resemble each other (STROTSS's content
    term, Kolkin et al. 2019): features pooled to at most GRID positions a side, D_ij = 1 − cos(f_i, f_j), each
    column divided by its sum (D̂), then (1/n) Σ_ij |D̂_ij − D̂'_ij| over the n positions, the mean L1 distance
    between the two images' columns (0 to 2), averaged over SELF_SIMILARITY_LAYERS."""
    images, content = _with_content(images, content)
    return _self_similarity(features(images), features(content))


def _column_distances(f: torch.Tensor) -> torch.Tensor:
    h, w = f.shape[-2:]
    x = F.adaptive_avg_pool2d(f.float(), scaled_size(h, w, min(GRID, max(h, w))))
    x = F.normalize(x.flatten(2), dim=1)  # B×N×n: a unit feature vector per position
    d = 1 - x.transpose(1, 2) @ x
    return d / d.sum(1, keepdim=True).clamp(min=1e-12)


def _self_similarity(a: dict[str, torch.Tensor], p: dict[str, torch.Tensor]) -> torch.Tensor:
    total = torch.zeros(a[SELF_SIMILARITY_LAYERS[0]].shape[0])
    for layer in SELF_SIMILARITY_LAYERS:
        da, dp = _column_distances(a[layer]), _column_distances(p[layer])
        total = total + (da - dp).abs().sum((1, 2)) / da.shape[-1]
    return total / len(SELF_SIMILARITY_LAYERS)


def ssim(images: torch.Tensor, content: torch.Tensor) -> torch.Tensor:
    """Per image (B), SSIM to the content at METRIC_SIDE: the mean over 11-px Gaussian windows and RGB channels
    of (2μxμy + C1)(2σxy + C2) / ((μx² + μy² + C1)(σx² + σy² + C2)), C1 = 0.01², C2 = 0.03² (Wang et al. 2004)."""
    return _ssim(*_with_content(images, content))


def _ssim(images: torch.Tensor, content: torch.Tensor) -> torch.Tensor:
    from torchmetrics.functional.image import structural_similarity_index_measure

    target = content.expand_as(images).float()
    out = structural_similarity_index_measure(images.float(), target, data_range=1.0, reduction="none")
    assert isinstance(out, torch.Tensor)  # a tuple only with return_full_image or return_contrast_sensitivity
    return out


def ms_ssim_scales(height: int, width: int) -> int:
    """How many of MS-SSIM's 5 scales an image allows: its coarsest (halved n − 1 times) must hold the window,
    and torchmetrics also asks side // (n − 1)² > 10. An image at the metric side allows at least 2."""
    side = min(height, width)
    fits = [n for n in range(2, len(MS_SSIM_BETAS) + 1) if side >= SSIM_WINDOW * 2 ** (n - 1)]
    return max(n for n in fits if side // max(1, n - 1) ** 2 > SSIM_WINDOW - 1)


def ms_ssim(images: torch.Tensor, content: torch.Tensor) -> torch.Tensor:
    """Per image (B), multi-scale SSIM to the content at METRIC_SIDE: l_M^β_M Π_j cs_j^β_j over the scales j
    (Wang et al. 2003). An image too small for 5 scales takes the `ms_ssim_scales` finest, their β rescaled to
    sum to 1 (at the metric side, a short side under 176 px: images wider than about 3:2 or taller)."""
    return _ms_ssim(*_with_content(images, content))


def _ms_ssim(images: torch.Tensor, content: torch.Tensor) -> torch.Tensor:
    from torchmetrics.functional.image import multiscale_structural_similarity_index_measure

    n = ms_ssim_scales(images.shape[-2], images.shape[-1])
    betas = tuple(b / sum(MS_SSIM_BETAS[:n]) for b in MS_SSIM_BETAS[:n])
    target = content.expand_as(images).float()
    return multiscale_structural_similarity_index_measure(
        images.float(), target, data_range=1.0, betas=betas, reduction="none"
    )


# ---- against the style --------------------------------------------------------------------------------
def _at_side(features: Features, images: torch.Tensor) -> dict[str, torch.Tensor]:
    return features(at_metric_side(images))


def gram_distance(features: Features, images: torch.Tensor, style: torch.Tensor) -> torch.Tensor:
    """Per image (B), the relative distance of its Grams per position to the style image's (1×3×H×W)."""
    return _gram(_at_side(features, images), _at_side(features, style))


def _gram(a: dict[str, torch.Tensor], s: dict[str, torch.Tensor]) -> torch.Tensor:
    total = torch.zeros(a[STYLE_LAYERS[0]].shape[0])
    for layer in STYLE_LAYERS:
        fa, fs = _flat(a[layer]), _flat(s[layer])
        g = fa @ fa.transpose(1, 2) / fa.shape[-1]
        ref = fs @ fs.transpose(1, 2) / fs.shape[-1]
        total = total + ((g - ref) ** 2).sum((1, 2)) / (ref**2).sum((1, 2)).clamp(min=1e-12)
    return total / len(STYLE_LAYERS)


def mean_std_distance(features: Features, images: torch.Tensor, style: torch.Tensor) -> torch.Tensor:
    """Per image (B), the relative distance of its channel means and standard deviations to the style's."""
    return _mean_std(_at_side(features, images), _at_side(features, style))


def _mean_std(a: dict[str, torch.Tensor], s: dict[str, torch.Tensor]) -> torch.Tensor:
    total = torch.zeros(a[STYLE_LAYERS[0]].shape[0])
    for layer in STYLE_LAYERS:
        fa, fs = _flat(a[layer]), _flat(s[layer])
        mu, sd = fa.mean(-1), fa.std(-1, unbiased=False)
        mu_s, sd_s = fs.mean(-1), fs.std(-1, unbiased=False)
        scale = (mu_s**2).sum(1) + (sd_s**2).sum(1)
        total = total + (((mu - mu_s) ** 2).sum(1) + ((sd - sd_s) ** 2).sum(1)) / scale.clamp(min=1e-12)
    return total / len(STYLE_LAYERS)


def w2_distance(features: Features, images: torch.Tensor, style: torch.Tensor) -> torch.Tensor:
    """Per image (B), the squared Wasserstein-2 distance between Gaussian fits N(μ, Σ) of its features and the
    style's, W2² = ‖μ − μ'‖² + tr(Σ + Σ' − 2 (Σ'^½ Σ Σ'^½)^½) (Dowson & Landau 1982), over the style's own
    ‖μ'‖² + tr Σ' (its W2² to a point at 0), mean over STYLE_LAYERS; fp64, symmetric eigendecompositions."""
    return _w2(_at_side(features, images), _at_side(features, style))


def _gaussian(f: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    x = _flat(f).double()
    mu = x.mean(-1)
    centred = x - mu.unsqueeze(-1)
    return mu, centred @ centred.transpose(1, 2) / x.shape[-1]


@contextlib.contextmanager
def _one_thread() -> Iterator[None]:
    """LAPACK's eigensolvers on matrices of 512 rows or fewer run faster on one thread, and far faster when other
    processes keep the cores busy (OpenMP threads then wait on each other): a 512² eigh took 0.07 s on one
    thread against 1.5 s on two, on a loaded 2-core machine."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(threads)


def _w2(a: dict[str, torch.Tensor], s: dict[str, torch.Tensor]) -> torch.Tensor:
    total = torch.zeros(a[STYLE_LAYERS[0]].shape[0])
    for layer in STYLE_LAYERS:
        (mu, cov), (mu_s, cov_s) = _gaussian(a[layer]), _gaussian(s[layer])
        with _one_thread():
            cross = _root_trace(cov, cov_s)
        w2 = ((mu - mu_s) ** 2).sum(-1) + _trace(cov) + _trace(cov_s) - 2 * cross
        scale = (mu_s**2).sum(-1) + _trace(cov_s)
        total = total + (w2.clamp(min=0) / scale.clamp(min=1e-12)).float()
    return total / len(STYLE_LAYERS)


def _root_trace(cov: torch.Tensor, cov_s: torch.Tensor) -> torch.Tensor:
    """tr (Σ'^½ Σ Σ'^½)^½ = Σ √λ(Lᵀ Σ L) for any Σ' = L Lᵀ (Lᵀ Σ L has the eigenvalues of Σ Σ'): L is Σ''s
    Cholesky factor, a quarter of the cost of its eigendecomposition, or its symmetric root where Σ' is singular."""
    factor, info = torch.linalg.cholesky_ex(cov_s)
    if bool((info != 0).any()):
        vals, vecs = torch.linalg.eigh(cov_s)
        factor = vecs @ torch.diag_embed(vals.clamp(min=0).sqrt()) @ vecs.transpose(1, 2)
    return torch.linalg.eigvalsh(factor.transpose(1, 2) @ cov @ factor).clamp(min=0).sqrt().sum(-1)


def _directions() -> torch.Tensor:
    g = torch.Generator().manual_seed(0)
    d = torch.randn(PROJECTIONS, 3, generator=g, dtype=torch.float64)
    return d / d.norm(dim=1, keepdim=True)


DIRECTIONS = _directions()  # K×3 unit vectors in Lab, drawn once with a fixed seed: the distance is deterministic


def colour_distance(images: torch.Tensor, style: torch.Tensor) -> torch.Tensor:
    """Per image (B), the sliced Wasserstein-1 distance between its pixel colours and the style's in CIE Lab
    (D65), at METRIC_SIDE: (1/K) Σ_k ∫₀¹ |F_k⁻¹(t) − G_k⁻¹(t)| dt, F_k and G_k the distributions of the pixels
    projected on DIRECTIONS θ_k (Rabin et al. 2011; Bonneel et al. 2015), the integral at QUANTILES midpoints
    (nearest rank). In Lab units (about ΔE); blind to where the colours are."""
    return _colour(at_metric_side(images), at_metric_side(style))


def _quantiles(images: torch.Tensor) -> torch.Tensor:
    lab = rgb_to_lab(images).double().flatten(2)  # B×3×P
    projected = torch.einsum("kc,bcp->bkp", DIRECTIONS, lab).sort(-1).values
    ranks = ((torch.arange(QUANTILES, dtype=torch.float64) + 0.5) * lab.shape[-1] / QUANTILES).long()
    return projected[..., ranks]  # B×K×Q


def _colour(images: torch.Tensor, style: torch.Tensor) -> torch.Tensor:
    return _colour_to(images, _quantiles(style))


def _colour_to(images: torch.Tensor, style_quantiles: torch.Tensor) -> torch.Tensor:
    return (_quantiles(images) - style_quantiles).abs().mean((1, 2)).float()


# ---- a finished run -----------------------------------------------------------------------------------
STYLE_CACHE = 4  # styles per network whose statistics a process keeps: a sweep scores one style at every point


def _style_statistics(features: Features, style: torch.Tensor) -> tuple[dict[str, torch.Tensor], torch.Tensor]:
    """A style's features and colour quantiles at METRIC_SIDE, kept for the network that made them (a weak key:
    a network that is gone takes its entries with it) and looked up by the style's pixels."""
    style = at_metric_side(style.float())
    kept = _STYLES.setdefault(features, {})
    key = (tuple(style.shape), hashlib.blake2b(style.contiguous().numpy().tobytes()).hexdigest())
    if key not in kept:
        if len(kept) >= STYLE_CACHE:
            del kept[next(iter(kept))]
        kept[key] = (features(style), _quantiles(style))
    return kept[key]


_STYLES: weakref.WeakKeyDictionary[
    Features, dict[tuple[tuple[int, ...], str], tuple[dict[str, torch.Tensor], torch.Tensor]]
]
_STYLES = weakref.WeakKeyDictionary()


def run_metrics(
    features: Features,
    final: torch.Tensor,
    content: torch.Tensor | None,
    styles: Sequence[torch.Tensor],
    blend: Sequence[float],
) -> dict[str, float | None]:
    """Every metric of METRIC_NAMES for one finished image (1×3×H×W in [0, 1]; `features`: `metric_features()`).

    Against several styles a style metric is the mean of its distances to each, weighted by `blend` (the run's
    style_blend_weights, summing to 1) as the run's style loss weighs them. Speckle is measured at METRIC_SIDE
    like the rest; the edge score on the image as saved (a frame is a few pixels wide), and is None when a side
    is 40 px or less (it needs 41). The learned metrics (learned.py) are None without their checkpoint files.
    A value that is not finite is None, and so are the content metrics of a texture (`content` None).
    """
    with torch.no_grad():
        image, reference = _with_content(final.float().cpu(), (final if content is None else content).float().cpu())
        both = features(torch.cat([image, reference]))  # one pass for the two images of the same size
        a, p = {k: v[:1] for k, v in both.items()}, {k: v[1:] for k, v in both.items()}
        values = {
            "content_distance": _content(a, p),
            "self_similarity_distance": _self_similarity(a, p),
            "ssim": _ssim(image, reference),
            "ms_ssim": _ms_ssim(image, reference),
            "speckle": speckle(image),
            **{name: torch.zeros(1) for name in STYLE_METRICS},
        }
        for weight, style in zip(blend, styles):
            s, quantiles = _style_statistics(features, style.cpu())
            distances = (_gram(a, s), _mean_std(a, s), _w2(a, s), _colour_to(image, quantiles))
            for name, distance in zip(STYLE_METRICS, distances):
                values[name] = values[name] + weight * distance
    out: dict[str, float | None] = {name: float(v) for name, v in values.items()}
    out.update(learned_metrics(image, reference))
    out["edge_score"] = edge_score(final) if min(final.shape[-2:]) > INNER[1] else None
    if content is None:
        out.update(dict.fromkeys(CONTENT_METRICS))
    return {name: v if v is None or math.isfinite(v) else None for name, v in ((n, out[n]) for n in METRIC_NAMES)}


def compute_run_metrics(run_folder: Path) -> dict[str, float | None]:
    """Score a run folder's final.png against its config.json's content and style images (`run_metrics`), and
    write metrics.json and config.json's `metrics`; a UserError names the folder when it cannot."""
    run_folder = Path(run_folder)
    record = RunRecord.read(run_folder)
    if record is None:
        raise UserError(f"{quoted(run_folder)}: not a run folder (no readable {RECORD})")
    problem = file_problem(run_folder / SAVED)
    if problem is not None:
        raise UserError(f"{quoted(run_folder)}: no final image to score ({SAVED}: {problem})")
    config = from_dict(record.config, where=f"{quoted(run_folder / RECORD)}: ")
    try:
        final = load_image(str(run_folder / SAVED))
        content = load_image(config.content) if config.has_content else None
        styles = [load_image(path) for path in config.style]
    except ImageError as e:
        raise UserError(f"{quoted(run_folder)}: {e}") from None
    with FolderLock(run_folder, "this run folder"):
        values = run_metrics(metric_features(), final, content, styles, config.resolved_blend_weights())
        RunFolder.record_metrics(run_folder, values)
    return values
