#!/usr/bin/env python3
"""Generate the procedural style images in ``collections/style/``.

Every image is painted from scratch with numpy + Pillow from a fixed random
seed, so the output is fully reproducible::

    python collections/make_styles.py            # writes collections/style/*.jpg
    python collections/make_styles.py --out DIR  # write somewhere else
    python collections/make_styles.py --only stained_glass

Byte-identical output is expected for the same numpy / Pillow (libjpeg)
versions; other versions may differ in the last bits of the JPEG encoding.

The images are original works of this project (no external input) and are
released under the project's licence (MIT) and additionally dedicated to the
public domain under CC0 1.0.
"""

from __future__ import annotations

import argparse
import colorsys
import time
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw, ImageFilter

SS = 2  # supersampling factor: paint at SS x the final size, then downsample
JPEG_QUALITY = 90
OUT_DIR = Path(__file__).resolve().parent / "style"


# --------------------------------------------------------------------------
# helpers
# --------------------------------------------------------------------------
def hex2rgb(h: str) -> np.ndarray:
    h = h.lstrip("#")
    return np.array([int(h[i : i + 2], 16) for i in (0, 2, 4)], dtype=np.float32)


def palette(*hexes: str) -> np.ndarray:
    return np.stack([hex2rgb(h) for h in hexes])


def gradient_lookup(pal: np.ndarray, t: np.ndarray) -> np.ndarray:
    """Map t in [0, 1] (any shape) linearly through the colour stops in pal."""
    t = np.clip(t, 0.0, 1.0) * (len(pal) - 1)
    i0 = np.minimum(t.astype(np.int64), len(pal) - 2)
    f = (t - i0)[..., None]
    return pal[i0] * (1 - f) + pal[i0 + 1] * f


def smooth_noise(rng: np.random.Generator, h: int, w: int, cell: float) -> np.ndarray:
    """Value noise in [0, 1] with smoothstep interpolation, feature size ~cell px."""
    gh, gw = int(np.ceil(h / cell)) + 2, int(np.ceil(w / cell)) + 2
    g = rng.random((gh, gw), dtype=np.float32)
    y = np.arange(h, dtype=np.float32) / cell
    x = np.arange(w, dtype=np.float32) / cell
    y0, x0 = y.astype(np.int64), x.astype(np.int64)
    fy, fx = y - y0, x - x0
    sy = (fy * fy * (3 - 2 * fy))[:, None]
    sx = (fx * fx * (3 - 2 * fx))[None, :]
    a = g[y0][:, x0]
    b = g[y0][:, x0 + 1]
    c = g[y0 + 1][:, x0]
    d = g[y0 + 1][:, x0 + 1]
    top = a + (b - a) * sx
    bot = c + (d - c) * sx
    return top + (bot - top) * sy


def fbm(rng, h, w, cell, octaves=4, gain=0.5) -> np.ndarray:
    """Fractal sum of value noise, normalised to [0, 1]."""
    out = np.zeros((h, w), np.float32)
    amp = 1.0
    for o in range(octaves):
        out += amp * smooth_noise(rng, h, w, max(cell / 2**o, 1.5))
        amp *= gain
    out -= out.min()
    return out / max(out.max(), 1e-6)


def to_image(arr: np.ndarray) -> Image.Image:
    return Image.fromarray(np.clip(arr, 0, 255).astype(np.uint8), "RGB")


def finish(img: Image.Image, size: tuple[int, int], grain_seed: int, grain=4.0):
    """Downsample the supersampled canvas and add a faint canvas grain."""
    img = img.resize(size, Image.LANCZOS)
    rng = np.random.default_rng(grain_seed)
    a = np.asarray(img).astype(np.float32)
    h, w = a.shape[:2]
    weave = (np.sin(np.arange(w) * 2.1)[None, :] + np.sin(np.arange(h) * 1.9)[:, None]) * 0.5
    n = rng.normal(0, 1, (h, w)).astype(np.float32) * 0.7 + weave * 0.5
    a += grain * n[..., None]
    return to_image(a)


def jitter_colour(rgb, rng, dh=0.02, ds=0.08, dv=0.08):
    r, g, b = (float(c) / 255 for c in rgb)
    hh, s, v = colorsys.rgb_to_hsv(r, g, b)
    hh = (hh + rng.uniform(-dh, dh)) % 1.0
    s = min(max(s + rng.uniform(-ds, ds), 0), 1)
    v = min(max(v + rng.uniform(-dv, dv), 0), 1)
    return tuple(int(round(c * 255)) for c in colorsys.hsv_to_rgb(hh, s, v))


def shade(rgb, k):
    """k > 0 lightens toward white, k < 0 darkens toward black."""
    c = np.asarray(rgb, np.float32)
    c = c + (255 - c) * k if k > 0 else c * (1 + k)
    return tuple(int(v) for v in np.clip(c, 0, 255))


def trace_streamlines(vx, vy, seeds, n_steps, step):
    """Integrate many streamlines at once (Euler, nearest-pixel sampling).

    vx, vy: (H, W) unit direction field; seeds: (N, 2) as (x, y).
    Returns (N, n_steps + 1, 2).
    """
    h, w = vx.shape
    pts = np.empty((len(seeds), n_steps + 1, 2), np.float32)
    p = seeds.astype(np.float32).copy()
    pts[:, 0] = p
    for k in range(n_steps):
        xi = np.clip(p[:, 0].astype(np.int64), 0, w - 1)
        yi = np.clip(p[:, 1].astype(np.int64), 0, h - 1)
        # midpoint (RK2) step for smoother curves
        mx = p[:, 0] + 0.5 * step * vx[yi, xi]
        my = p[:, 1] + 0.5 * step * vy[yi, xi]
        xi = np.clip(mx.astype(np.int64), 0, w - 1)
        yi = np.clip(my.astype(np.int64), 0, h - 1)
        p[:, 0] += step * vx[yi, xi]
        p[:, 1] += step * vy[yi, xi]
        pts[:, k + 1] = p
    return pts


def stroke_polygon(pts: np.ndarray, width: float, taper=0.85):
    """Outline of a tapered brush stroke along polyline pts (L, 2)."""
    d = np.gradient(pts, axis=0)
    d /= np.linalg.norm(d, axis=1, keepdims=True) + 1e-6
    nrm = np.stack([-d[:, 1], d[:, 0]], axis=1)
    t = np.linspace(0, 1, len(pts))
    prof = (1 - taper) + taper * np.sin(np.pi * (0.08 + 0.84 * t)) ** 0.6
    half = 0.5 * width * prof[:, None]
    left = pts + nrm * half
    right = pts - nrm * half
    return np.concatenate([left, right[::-1]], axis=0), nrm


def ellipse_polys(cx, cy, rx, ry, ang, n=12) -> np.ndarray:
    """Vertices of many rotated ellipses at once: (N, n, 2)."""
    th = np.linspace(0, 2 * np.pi, n, endpoint=False)
    ex = rx[:, None] * np.cos(th)[None]
    ey = ry[:, None] * np.sin(th)[None]
    ca, sa = np.cos(ang)[:, None], np.sin(ang)[:, None]
    x = cx[:, None] + ex * ca - ey * sa
    y = cy[:, None] + ex * sa + ey * ca
    return np.stack([x, y], axis=-1)


def jittered_grid(rng, w, h, spacing):
    xs = np.arange(spacing / 2, w, spacing)
    ys = np.arange(spacing / 2, h, spacing)
    gx, gy = np.meshgrid(xs, ys)
    p = np.stack([gx.ravel(), gy.ravel()], 1)
    p += rng.uniform(-spacing / 2, spacing / 2, p.shape)
    return rng.permutation(p)


# --------------------------------------------------------------------------
# 1. swirling night sky: flow-field brush strokes (blue / yellow)
# --------------------------------------------------------------------------
def starry_swirls(seed=1889, size=(768, 768)) -> Image.Image:
    rng = np.random.default_rng(seed)
    W, H = size[0] * SS, size[1] * SS
    yy, xx = np.mgrid[0:H, 0:W].astype(np.float32)

    # stream function: gentle eastward drift + noise + vortices
    psi = -0.9 * yy / H  # uniform flow to the right
    psi += 0.35 * fbm(rng, H, W, cell=0.45 * W, octaves=3)
    horizon = 0.74 * H + 0.05 * H * np.sin(xx / W * 5.0 + 1.0) + 0.03 * H * np.sin(xx / W * 11.0)
    vortices = [  # (x, y, radius, strength)   in units of the canvas
        (0.42, 0.36, 0.17, 0.55),
        (0.62, 0.30, 0.12, -0.45),
        (0.82, 0.14, 0.09, 0.35),  # moon
        (0.14, 0.14, 0.06, 0.22),
        (0.32, 0.12, 0.05, 0.18),
        (0.58, 0.09, 0.045, 0.16),
        (0.12, 0.46, 0.05, 0.18),
        (0.88, 0.48, 0.06, 0.22),
        (0.70, 0.58, 0.05, 0.15),
    ]
    for vx_, vy_, r, s in vortices:
        d2 = ((xx - vx_ * W) ** 2 + (yy - vy_ * H) ** 2) / (r * W) ** 2
        psi += s * np.exp(-d2)
    # hills below the horizon: flow follows the ridge lines
    below = np.clip((yy - horizon) / (0.04 * H), 0, 1)
    psi = psi * (1 - below) + below * (-(yy - horizon) / H * 1.2 + 0.15 * fbm(rng, H, W, 0.3 * W, 2))

    gy, gx = np.gradient(psi)
    vx, vy = gy, -gx
    mag = np.sqrt(vx**2 + vy**2) + 1e-9
    vx, vy = vx / mag, vy / mag

    # brightness field: stars and moon glow, lighter band in the sky
    stars = [
        (0.82, 0.14, 0.075, 1.0),
        (0.14, 0.14, 0.04, 0.8),
        (0.32, 0.12, 0.035, 0.75),
        (0.58, 0.09, 0.03, 0.7),
        (0.12, 0.46, 0.035, 0.7),
        (0.88, 0.48, 0.04, 0.75),
        (0.70, 0.58, 0.035, 0.6),
        (0.45, 0.55, 0.03, 0.55),
        (0.95, 0.30, 0.03, 0.6),
    ]
    glow = np.zeros((H, W), np.float32)
    for sx, sy, r, a in stars:
        d = np.sqrt((xx - sx * W) ** 2 + (yy - sy * H) ** 2) / (r * W)
        glow = np.maximum(glow, a * np.exp(-(d**2) * 0.7))
    band = np.exp(-(((yy / H) - (0.34 + 0.08 * np.sin(xx / W * 6))) ** 2) / 0.012)
    sky_t = 0.2 + 0.22 * fbm(rng, H, W, 0.2 * W, 4) + 0.3 * band
    # light/dark ribbons that follow the streamlines make the swirls read clearly
    sky_t += 0.13 * np.sin(psi * 38.0) * (0.4 + band)
    halo = np.clip((glow - 0.12) / 0.3, 0, 1)
    sky_t = sky_t + (0.55 + 0.45 * glow - sky_t) * halo

    sky_pal = palette("#0a1440", "#142a6e", "#1f4aa0", "#3d74c2", "#7fb0dc", "#cfe0d8", "#f3e39a", "#f5c842", "#e89a22")
    hill_pal = palette("#050d24", "#0d2340", "#173a4e", "#2c5a55", "#4f7a5a", "#8a9a5a")
    hill_t = 0.15 + 0.45 * fbm(rng, H, W, 0.15 * W, 4) + 0.25 * np.clip((yy - horizon) / H * 2, 0, 1)
    in_hill = yy > horizon

    def colour_at(px, py):
        xi = np.clip(px.astype(np.int64), 0, W - 1)
        yi = np.clip(py.astype(np.int64), 0, H - 1)
        return np.where(
            in_hill[yi, xi][:, None], gradient_lookup(hill_pal, hill_t[yi, xi]), gradient_lookup(sky_pal, sky_t[yi, xi])
        )

    # underpainting
    under = np.where(in_hill[..., None], gradient_lookup(hill_pal, hill_t), gradient_lookup(sky_pal, sky_t))
    img = to_image(under).filter(ImageFilter.GaussianBlur(6 * SS))
    draw = ImageDraw.Draw(img)

    passes = [  # (spacing, length px, width px, steps)
        (30, 70, 20, 12),
        (19, 50, 12, 10),
        (12, 32, 7.0, 8),
        (9, 20, 4.5, 6),
    ]
    for spacing, length, width, steps in passes:
        seeds = jittered_grid(rng, W, H, spacing * SS)
        lengths = length * SS * rng.uniform(0.6, 1.3, len(seeds))
        pts = trace_streamlines(vx, vy, seeds, steps, length * SS / steps)
        cols = colour_at(seeds[:, 0], seeds[:, 1])
        cols += rng.normal(0, 10, cols.shape)
        for i in range(len(seeds)):
            p = pts[i]
            p = p[0] + (p - p[0]) * (lengths[i] / (length * SS))
            wdt = width * SS * rng.uniform(0.75, 1.25)
            poly, nrm = stroke_polygon(p, wdt)
            col = tuple(int(v) for v in np.clip(cols[i], 0, 255))
            draw.polygon([tuple(q) for q in poly.tolist()], fill=col)
            # bristle streaks: a lighter and a darker line inside the stroke
            for off, k in ((0.22, 0.28), (-0.25, -0.30)):
                q = p + nrm * (off * wdt)
                draw.line([tuple(v) for v in q[1:-1].tolist()], fill=shade(col, k), width=max(1, int(wdt * 0.18)))
    return finish(img, size, seed + 1)


# --------------------------------------------------------------------------
# 2. stained glass: Voronoi rose window with lead lines, jewel colours
# --------------------------------------------------------------------------
def stained_glass(seed=1248, size=(768, 768)) -> Image.Image:
    rng = np.random.default_rng(seed)
    W, H = size
    cx, cy = W * 0.5, H * 0.5
    yy, xx = np.mgrid[0:H, 0:W].astype(np.float32)
    rad = np.sqrt((xx - cx) ** 2 + (yy - cy) ** 2)
    R = 0.465 * W  # radius of the rose window

    # symmetric seeds on concentric rings -> rose-window tracery;
    # jittered random seeds outside the window for the spandrels
    ring_spec = [
        (0.0, 1, 0.0),
        (0.065, 8, 0.0),
        (0.135, 16, 0.5),
        (0.2, 16, 0.0),
        (0.27, 24, 0.5),
        (0.34, 32, 0.0),
        (0.415, 32, 0.5),
    ]
    seeds, s_ring, s_idx = [], [], []
    for k, (rr, n, off) in enumerate(ring_spec):
        for j in range(n):
            a = 2 * np.pi * (j + off) / n - np.pi / 2
            seeds.append((cx + rr * W * np.cos(a), cy + rr * W * np.sin(a)))
            s_ring.append(k)
            s_idx.append(j)
    out = jittered_grid(rng, W, H, 64)
    out = out[np.hypot(out[:, 0] - cx, out[:, 1] - cy) > R + 30]
    for p in out:
        seeds.append(tuple(p))
        s_ring.append(len(ring_spec))
        s_idx.append(0)
    seeds = np.array(seeds, np.float32)
    s_ring = np.array(s_ring)
    s_idx = np.array(s_idx)

    # nearest and second-nearest seed for every pixel
    d1 = np.full((H, W), np.inf, np.float32)
    d2 = np.full((H, W), np.inf, np.float32)
    l1 = np.zeros((H, W), np.int32)
    l2 = np.zeros((H, W), np.int32)
    for i, (sx, sy) in enumerate(seeds):
        d = (xx - sx) ** 2 + (yy - sy) ** 2
        c1 = d < d1
        c2 = ~c1 & (d < d2)
        d2 = np.where(c1, d1, np.where(c2, d, d2))
        l2 = np.where(c1, l1, np.where(c2, i, l2))
        d1 = np.where(c1, d, d1)
        l1 = np.where(c1, i, l1)
    sep = np.linalg.norm(seeds[l1] - seeds[l2], axis=-1) + 1e-3
    cell_dist = (d2 - d1) / (2 * sep)  # exact distance to the Voronoi edge

    # structural leads: concentric circles and the stone frame of the window
    circles = np.array([0.1, 0.235, 0.38]) * W
    circ_dist = np.min(np.abs(rad[..., None] - circles), axis=-1)
    band = np.searchsorted(np.append(circles, R), rad)
    frame_dist = np.abs(rad - R)
    inside = rad < R

    # colour of every glass piece: symmetric schemes per seed ring
    jewels = {
        "ruby": "#a3121f",
        "sapphire": "#1346b0",
        "emerald": "#17804a",
        "amber": "#e9a21b",
        "amethyst": "#6b2d94",
        "teal": "#0f8a86",
        "gold": "#f2cf4a",
        "indigo": "#26307f",
        "rose": "#c0246e",
        "orange": "#d2571a",
        "sky": "#3f8fd6",
    }
    schemes = [
        ["gold"],
        ["amber", "orange"],
        ["ruby", "sapphire"],
        ["emerald", "gold", "emerald", "rose"],
        ["sapphire", "ruby", "sky", "ruby"],
        ["amethyst", "amber", "teal", "amber"],
        ["indigo", "ruby", "sapphire", "emerald"],
        ["indigo", "sapphire", "ruby", "teal", "amethyst", "indigo"],
    ]
    piece = l1.astype(np.int64) * 8 + band
    uniq, inv = np.unique(piece, return_inverse=True)
    inv = inv.reshape(H, W)
    cols = np.zeros((len(uniq), 3), np.float32)
    bright = np.zeros(len(uniq), np.float32)
    for k, pid in enumerate(uniq):
        lab, b = divmod(int(pid), 8)
        ring, j = s_ring[lab], s_idx[lab]
        sch = schemes[ring]
        name = sch[(j + b) % len(sch)] if ring < len(ring_spec) else sch[rng.integers(len(sch))]
        cols[k] = jitter_colour(hex2rgb(jewels[name]), rng, 0.012, 0.06, 0.08)
        bright[k] = rng.uniform(0.85, 1.12)

    colour = cols[inv]
    lead_dist = np.minimum(cell_dist, np.where(inside, circ_dist, np.inf))
    lead_w = np.where(inside & (circ_dist < cell_dist), 3.4, 2.4) + 0.6 * smooth_noise(rng, H, W, 50)
    # glass: luminous in the middle of each piece, darker toward the leads,
    # mottled at several scales with faint vertical streaks (cylinder glass)
    inner = np.clip((lead_dist - lead_w) / 26.0, 0, 1) ** 0.5
    mottle = fbm(rng, H, W, 48, 4)
    fine = fbm(rng, H, W, 7, 2)
    streak = np.asarray(Image.fromarray(smooth_noise(rng, H // 6 + 2, W, 2.5)).resize((W, H), Image.BICUBIC))
    light = (0.5 + 0.6 * inner) * bright[inv]
    light *= 0.78 + 0.34 * mottle + 0.14 * (fine - 0.5) + 0.16 * (streak - 0.5)
    light *= 0.8 + 0.35 * np.exp(-(((xx - 0.35 * W) ** 2 + (yy - 0.3 * H) ** 2) / (0.55 * W) ** 2))
    glass = colour * light[..., None]
    glass += (255 - glass) * (0.3 * np.clip((fine - 0.85) * 6, 0, 1) * inner)[..., None]
    # outside the window the glass is a little darker (spandrels)
    glass *= np.where(inside, 1.0, 0.78)[..., None]

    lead = np.clip((lead_w - lead_dist) / 1.0 + 0.5, 0, 1)
    ridge = np.exp(-((lead_dist - 0.35 * lead_w) ** 2) / 0.8) * lead
    lead_col = np.array([24, 22, 26], np.float32) + 28 * ridge[..., None]
    img = glass * (1 - lead[..., None]) + lead_col * lead[..., None]
    # stone frame of the rose window
    frame = np.clip((8.5 - frame_dist) + 0.5, 0, 1)
    stone = np.array([44, 40, 40], np.float32) * (0.75 + 0.5 * mottle + 0.3 * (fine - 0.5))[..., None]
    stone += 22 * np.exp(-((rad - R + 3.0) ** 2) / 3.0)[..., None]
    img = img * (1 - frame[..., None]) + stone * frame[..., None]
    return finish(to_image(img), size, seed + 1, grain=3.0)


# --------------------------------------------------------------------------
# 3. pointillist sunset over water: elliptical dabs, warm palette
# --------------------------------------------------------------------------
def pointillist_sunset(seed=1886, size=(768, 576)) -> Image.Image:
    rng = np.random.default_rng(seed)
    W, H = size[0] * SS, size[1] * SS
    yy, xx = np.mgrid[0:H, 0:W].astype(np.float32)
    hz = 0.56 * H
    sun = (0.64 * W, 0.47 * H, 0.065 * W)

    sky_pal = palette("#2b1d5c", "#53296e", "#8e3a7a", "#d24d6e", "#f07b4f", "#f9a93b", "#ffd86a", "#fff0b3")
    t = np.clip(yy / hz, 0, 1) ** 1.2
    d_sun = np.sqrt((xx - sun[0]) ** 2 + (yy - sun[1]) ** 2)
    glow = np.exp(-((d_sun / (0.35 * W)) ** 2))
    clouds = fbm(rng, H, W, 0.25 * W, 4)
    # stretch clouds horizontally: sample a wide noise strip
    cl = np.asarray(Image.fromarray(fbm(rng, H // 6, W // 2, 0.12 * W, 4)).resize((W, H), Image.BICUBIC))
    cloud_band = np.clip((cl - 0.5) * 3.0, 0, 1) * (yy < hz * 0.9)
    sky_t = np.clip(0.15 + 0.75 * t + 0.45 * glow + 0.08 * (clouds - 0.5), 0, 1)
    sky = gradient_lookup(sky_pal, sky_t)
    cloud_col = gradient_lookup(palette("#3a2257", "#7b2f6b", "#c2456a", "#f18a5a"), np.clip(t + 0.3 * glow, 0, 1))
    sky = sky * (1 - 0.8 * cloud_band[..., None]) + cloud_col * 0.8 * cloud_band[..., None]
    sun_disc = np.clip((sun[2] - d_sun) / 3.0, 0, 1)
    sky = sky * (1 - sun_disc[..., None]) + hex2rgb("#fffbe6") * sun_disc[..., None]
    sun_ring = np.exp(-(((d_sun - sun[2] * 1.25) / (0.25 * sun[2])) ** 2))
    sky += (hex2rgb("#ff9a3c") - sky) * (0.45 * sun_ring)[..., None]

    # water: darker reflection of the sky with a glittering path under the sun
    my = np.clip(2 * hz - yy, 0, H - 1).astype(np.int64)
    refl = sky[my, xx.astype(np.int64)] * 0.72
    depth = np.clip((yy - hz) / (H - hz), 0, 1)
    water_base = gradient_lookup(palette("#f08a4b", "#b8456a", "#5b2a6e", "#241b4f"), depth**0.8)
    water = 0.5 * refl + 0.5 * water_base
    path_w = 0.05 * W + 0.12 * W * depth
    path = np.exp(-(((xx - sun[0]) / path_w) ** 2)) * (0.5 + 0.5 * fbm(rng, H, W, 10, 2))
    water += (hex2rgb("#ffd36a") - water) * np.clip(path * 1.1, 0, 0.95)[..., None]

    scene = np.where((yy < hz)[..., None], sky, water)
    # dark hills and a headland on the left
    ridge = hz - (
        0.09 * H * np.exp(-(((xx - 0.12 * W) / (0.2 * W)) ** 2))
        + 0.04 * H * np.exp(-(((xx - 0.36 * W) / (0.14 * W)) ** 2))
        + 0.012 * H * np.sin(xx / W * 40) * (xx < 0.5 * W)
    )
    hills = (yy > ridge) & (yy < hz + 0.012 * H) & (xx < 0.55 * W)
    hill_col = gradient_lookup(palette("#2a1840", "#3d1f4f", "#5a2b5a"), fbm(rng, H, W, 0.1 * W, 3))
    scene = np.where(hills[..., None], hill_col, scene)
    is_water = (yy >= hz) & ~hills

    # canvas: cream ground lightly tinted by the scene, then dabs
    ground = 0.55 * hex2rgb("#efe4cc") + 0.45 * scene
    img = to_image(ground).filter(ImageFilter.GaussianBlur(4 * SS))
    draw = ImageDraw.Draw(img)

    complements = palette("#7a4fb5", "#3d6fd1", "#f4b04a", "#e0567a", "#5fb3a8")
    passes = [(15, 11, 0.95), (10, 7.5, 0.9), (7, 5.0, 0.85), (5, 3.4, 0.8)]  # spacing, radius, coverage
    for spacing, rad, cov in passes:
        p = jittered_grid(rng, W, H, spacing * SS)
        p = p[rng.random(len(p)) < cov]
        xi, yi = p[:, 0].astype(np.int64).clip(0, W - 1), p[:, 1].astype(np.int64).clip(0, H - 1)
        base = scene[yi, xi]
        water_here = is_water[yi, xi]
        n = len(p)
        rx = rad * SS * rng.uniform(0.8, 1.25, n) * np.where(water_here, 1.6, 1.15)
        ry = rad * SS * rng.uniform(0.7, 1.05, n) * np.where(water_here, 0.6, 0.85)
        ang = rng.normal(0, 0.25, n) + np.where(water_here, 0.0, -0.15)
        polys = ellipse_polys(p[:, 0], p[:, 1], rx, ry, ang, n=10)
        # Seurat-like optical mixing: many dabs are hue-shifted neighbours of
        # the local colour, a few are true complementaries
        u = rng.random(n)
        acc = u < 0.03
        mix = (u >= 0.03) & (u < 0.25)
        lum = base @ np.array([0.3, 0.59, 0.11], np.float32)
        warm_acc = complements[rng.choice([0, 1, 4], size=n)]
        cool_acc = complements[rng.choice([2, 3], size=n)]
        acc_col = np.where((lum > 140)[:, None], warm_acc, cool_acc)
        hue_shift = rng.choice([-1.0, 1.0], size=n) * rng.uniform(0.05, 0.1, size=n)
        for i in range(n):
            if acc[i]:
                col = tuple(int(v) for v in acc_col[i])
                col = jitter_colour(col, rng, 0.02, 0.1, 0.1)
            elif mix[i]:
                r_, g_, b_ = (float(c) / 255 for c in base[i])
                hh, ss_, vv = colorsys.rgb_to_hsv(r_, g_, b_)
                col = colorsys.hsv_to_rgb((hh + hue_shift[i]) % 1.0, min(ss_ * 1.15, 1.0), vv)
                col = jitter_colour(tuple(c * 255 for c in col), rng, 0.01, 0.05, 0.06)
            else:
                col = jitter_colour(base[i], rng, 0.025, 0.1, 0.1)
            draw.polygon([tuple(q) for q in polys[i].tolist()], fill=col)
    return finish(img, size, seed + 1, grain=3.5)


# --------------------------------------------------------------------------
# 4. cubist composition: overlapping angular facets with hatching
# --------------------------------------------------------------------------
def cubist_facets(seed=1907, size=(768, 768)) -> Image.Image:
    rng = np.random.default_rng(seed)
    W, H = size[0] * SS, size[1] * SS
    yy, xx = np.mgrid[0:H, 0:W].astype(np.float32)
    pal = palette(
        "#c8963e",
        "#a0522d",
        "#1f5f5b",
        "#3b5b8c",
        "#7a7a3a",
        "#efe2c0",
        "#2f2826",
        "#b23a2a",
        "#e0b84a",
        "#6b8f9c",
        "#d9b48a",
        "#4a3b5c",
    )
    weights = np.array([1.7, 1.2, 1.0, 1.0, 0.6, 1.6, 0.3, 1.0, 1.4, 0.8, 1.1, 0.5])
    weights /= weights.sum()

    # cut the canvas with straight lines (mostly through the central "figure")
    # and a few circles; every pixel's side pattern identifies its facet
    n_lines = 26
    code = np.zeros((H, W), np.int64)
    shade_f = np.zeros((H, W), np.float32)
    lines = []
    for i in range(n_lines):
        px = rng.normal(0.5, 0.24) * W
        py = rng.normal(0.5, 0.26) * H
        th = rng.choice([rng.uniform(0, np.pi), np.pi / 2 + rng.normal(0, 0.25), rng.normal(0, 0.3)])
        nx, ny = -np.sin(th), np.cos(th)
        d = (xx - px) * nx + (yy - py) * ny
        code |= (d > 0).astype(np.int64) << i
        # "passage" shading: darken one side close to the cut
        s = rng.uniform(0.03, 0.12) * W
        sgn = rng.choice([-1.0, 1.0])
        shade_f += rng.uniform(0.35, 0.7) * np.exp(-np.maximum(sgn * d, 0) / s) * (sgn * d > 0)
        lines.append((px, py, th))
    circles = []
    for i in range(3):
        ccx, ccy = rng.normal(0.5, 0.15) * W, rng.normal(0.55, 0.15) * H
        r = rng.uniform(0.08, 0.2) * W
        d = np.sqrt((xx - ccx) ** 2 + (yy - ccy) ** 2) - r
        code |= (d < 0).astype(np.int64) << (n_lines + i)
        shade_f += 0.35 * np.exp(-np.abs(d) / (0.05 * W)) * (d < 0)
        circles.append((ccx, ccy, r))

    uniq, inv = np.unique(code, return_inverse=True)
    inv = inv.reshape(H, W)
    n = len(uniq)
    cols = pal[rng.choice(len(pal), size=n, p=weights)]
    cols = np.array([jitter_colour(c, rng, 0.015, 0.08, 0.1) for c in cols], np.float32)
    hatch_kind = np.where(rng.random(n) < 0.3, rng.integers(0, 4, n), -1)
    canvas = cols[inv] * (1 - 0.45 * np.clip(shade_f, 0, 1))[..., None]
    # light side of the facets
    canvas += (255 - canvas) * (0.12 * fbm(rng, H, W, 0.3 * W, 3))[..., None]

    # painterly texture: short strokes in the local colour, oriented per facet
    img = to_image(canvas)
    draw = ImageDraw.Draw(img)
    stroke_ang = rng.uniform(0, np.pi, n)
    for spacing, ln_px, wd, kv in ((12, 30, 7.0, 0.07), (7, 16, 3.5, 0.05)):
        p = jittered_grid(rng, W, H, spacing * SS)
        xi = p[:, 0].astype(np.int64).clip(0, W - 1)
        yi = p[:, 1].astype(np.int64).clip(0, H - 1)
        base = canvas[yi, xi]
        a = stroke_ang[inv[yi, xi]] + rng.normal(0, 0.12, len(p))
        L = rng.uniform(0.6, 1.2, len(p)) * ln_px * SS / 2
        ks = rng.uniform(-kv, kv, len(p))
        for i in range(len(p)):
            dx, dy = np.cos(a[i]) * L[i], np.sin(a[i]) * L[i]
            draw.line(
                [(p[i, 0] - dx, p[i, 1] - dy), (p[i, 0] + dx, p[i, 1] + dy)],
                fill=shade(base[i], ks[i]),
                width=int(wd * SS),
            )
    canvas = np.asarray(img).astype(np.float32)

    # hatching in a subset of facets: four directions, hand-drawn wobble
    wob = fbm(rng, H, W, 0.05 * W, 2)
    for k, ang in enumerate([np.pi / 4, -np.pi / 4, np.pi / 2.6, 0.15]):
        sel = hatch_kind[inv] == k
        if not sel.any():
            continue
        sp = rng.uniform(9, 13) * SS
        ph = (xx * np.cos(ang) + yy * np.sin(ang)) / sp + 0.35 * wob
        ln = np.clip((np.cos(2 * np.pi * ph) - 0.7) * 5.0, 0, 1) * sel
        canvas = canvas * (1 - 0.55 * ln[..., None])

    img = to_image(canvas)
    draw = ImageDraw.Draw(img)
    ink = (38, 30, 28)
    # charcoal contours along parts of the cuts, and arcs of the circles
    for px, py, th in lines:
        for _ in range(rng.integers(1, 3)):
            t0 = rng.normal(0, 0.3) * W
            t1 = t0 + rng.uniform(0.15, 0.45) * W * rng.choice([-1, 1])
            t = np.linspace(t0, t1, 8)
            seg = np.stack([px + t * np.cos(th), py + t * np.sin(th)], 1)
            seg += rng.normal(0, 1.2 * SS, seg.shape)
            draw.line([tuple(q) for q in seg.tolist()], fill=ink, width=int(rng.uniform(2, 4.5) * SS))
    for ccx, ccy, r in circles:
        st = rng.uniform(0, 360)
        draw.arc([ccx - r, ccy - r, ccx + r, ccy + r], st, st + rng.uniform(120, 260), fill=ink, width=int(3 * SS))
    return finish(img, size, seed + 1, grain=4.0)


# --------------------------------------------------------------------------
# 5. ink wash: misty mountains, dry-brush pine branch, red seal
# --------------------------------------------------------------------------
def ink_mountains(seed=1090, size=(768, 576)) -> Image.Image:
    rng = np.random.default_rng(seed)
    W, H = size[0] * SS, size[1] * SS
    yy, xx = np.mgrid[0:H, 0:W].astype(np.float32)

    # rice paper: warm ground, soft blotches and fibres
    paper = hex2rgb("#f1e7d0")[None, None, :] * (0.94 + 0.06 * fbm(rng, H, W, 0.3 * W, 4))[..., None]
    dens = np.zeros((H, W), np.float32)

    def add_ink(d):
        nonlocal dens
        dens = 1 - (1 - dens) * (1 - np.clip(d, 0, 1))

    # layered mountain ridges fading into mist, far (pale) to near (dark)
    streak = np.asarray(Image.fromarray(fbm(rng, H // 8, W // 3, 5, 3)).resize((W, H), Image.BICUBIC))
    for base, amp, strength, fade in [
        (0.42, 0.30, 0.25, 0.10),
        (0.55, 0.26, 0.4, 0.08),
        (0.68, 0.2, 0.58, 0.07),
        (0.86, 0.16, 0.8, 0.06),
    ]:
        prof = fbm(rng, 1, W, rng.uniform(0.2, 0.35) * W, 6)[0]
        xs = np.arange(W) / W
        peak = np.zeros(W, np.float32)
        for _ in range(2):  # pointed peaks
            peak = np.maximum(
                peak, rng.uniform(0.5, 1.0) * np.exp(-np.abs(xs - rng.uniform(0.05, 0.95)) / rng.uniform(0.07, 0.16))
            )
        ridge = (base - amp * (0.45 * prof + 0.75 * peak)) * H
        below = np.maximum(yy - ridge[None, :], 0)
        inside = yy > ridge[None, :]
        body = strength * np.exp(-below / (fade * H))
        edge = 0.6 * strength * np.exp(-below / (0.01 * H))
        texture = 0.6 + 0.7 * streak * (0.5 + 0.5 * fbm(rng, H, W, 0.05 * W, 3))
        add_ink(np.where(inside, (body + edge) * texture, 0))

    img = np.asarray(paper, np.float32)
    ink_dark = hex2rgb("#16151a")
    ink_wash = hex2rgb("#4b5560")
    ink_col = ink_wash[None, None] + (ink_dark - ink_wash)[None, None] * np.clip(dens * 1.4, 0, 1)[..., None]
    img = img * (1 - dens[..., None]) + ink_col * dens[..., None]
    im = to_image(img)

    # bold calligraphic pine branch with dry-brush bristles and needle clusters
    layer = Image.new("L", (W, H), 0)
    draw = ImageDraw.Draw(layer)

    def brush(p0, p1, bend, width, steps=40, dry=0.5, value=255):
        t = np.linspace(0, 1, steps)[:, None]
        p0, p1 = np.array(p0, np.float32), np.array(p1, np.float32)
        d = p1 - p0
        nrm = np.array([-d[1], d[0]]) / (np.linalg.norm(d) + 1e-6)
        pts = p0 + d * t + nrm * bend * np.sin(np.pi * t)
        n_b = max(6, int(width / (1.6 * SS)))
        for o in np.linspace(-0.5, 0.5, n_b):
            end = steps if rng.random() > dry else int(steps * rng.uniform(0.45, 0.95))
            prof = np.sin(np.pi * (0.1 + 0.8 * t[:end, 0])) ** 0.3
            q = pts[:end] + nrm * (o * width * prof[:, None]) + rng.normal(0, 0.3 * SS, (end, 2))
            v = int(value * rng.uniform(0.75, 1.0))
            draw.line([tuple(r) for r in q.tolist()], fill=v, width=int(rng.uniform(1.5, 3.0) * SS))
        return pts

    trunk = brush((-0.05 * W, 0.30 * H), (0.42 * W, 0.16 * H), -0.05 * H, 22 * SS, dry=0.35)
    twig1 = brush(trunk[18], (0.30 * W, 0.02 * H), 0.03 * H, 12 * SS, dry=0.45)
    twig2 = brush(trunk[30], (0.55 * W, 0.28 * H), 0.02 * H, 10 * SS, dry=0.5)
    tips = [twig1[-1], twig2[-1], trunk[-1], trunk[12], twig1[22], twig2[25]]
    for c in tips:  # fan-shaped needle clusters, opening upward
        for a in np.linspace(-2.6, -0.55, int(rng.integers(16, 24))) + rng.normal(0, 0.06, 1):
            a += rng.normal(0, 0.05)
            ln = rng.uniform(0.035, 0.06) * W
            e = (c[0] + np.cos(a) * ln, c[1] + np.sin(a) * ln)
            brush(c, e, rng.normal(0, 2 * SS), 2.6 * SS, steps=10, dry=0.3, value=240)
    branch = np.asarray(layer.filter(ImageFilter.GaussianBlur(0.6 * SS)), np.float32) / 255.0
    arr = np.asarray(im, np.float32)
    arr = arr * (1 - branch[..., None]) + ink_dark * branch[..., None]

    # vermilion seal stamp with worn edges
    sx0, sy0, s = int(0.86 * W), int(0.80 * H), int(0.075 * W)
    seal = np.zeros((H, W), np.float32)
    seal[sy0 : sy0 + s, sx0 : sx0 + s] = 1
    b = max(int(0.1 * s), 2)  # carved inner border
    seal[sy0 + b : sy0 + s - b, sx0 + b : sx0 + s - b] = 0
    seal[sy0 + 2 * b : sy0 + s - 2 * b, sx0 + 2 * b : sx0 + s - 2 * b] = 1
    seal[sy0 + 2 * b : sy0 + s - 2 * b, sx0 + s // 2 - b // 2 : sx0 + s // 2 + b // 2 + 1] = 0
    wear = fbm(rng, H, W, 5, 2)
    seal *= np.clip((wear - 0.25) * 4, 0, 1)
    arr = arr * (1 - 0.9 * seal[..., None]) + hex2rgb("#c0321f") * 0.9 * seal[..., None]
    return finish(to_image(arr), size, seed + 1, grain=3.0)


STYLES = {
    "starry_swirls": starry_swirls,
    "stained_glass": stained_glass,
    "pointillist_sunset": pointillist_sunset,
    "cubist_facets": cubist_facets,
    "ink_mountains": ink_mountains,
}


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--out", type=Path, default=OUT_DIR)
    ap.add_argument("--only", nargs="*", choices=sorted(STYLES))
    args = ap.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    for name in args.only or STYLES:
        t0 = time.perf_counter()
        img = STYLES[name]()
        path = args.out / f"{name}.jpg"
        img.save(path, "JPEG", quality=JPEG_QUALITY, optimize=True, subsampling=0)
        print(
            f"{path}  {img.size[0]}x{img.size[1]}  {path.stat().st_size / 1024:.0f} kB  "
            f"{time.perf_counter() - t0:.1f} s"
        )


if __name__ == "__main__":
    main()
