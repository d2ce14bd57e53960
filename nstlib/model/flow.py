"""Optical flow between video frames, its certainty, and warping (Ruder, Dosovitskiy & Brox, GCPR 2016, Sec. 3).

Flow comes from OpenCV (DIS or Farneback; no network weights to download). A flow field is a 2×H×W float
tensor of pixel offsets (dx, dy): `flow[:, y, x]` says where pixel (x, y) of one frame is found in the other.
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F

from nstlib.images import rgb_to_yiq

FLOW_METHODS = ("dis", "farneback")


def _gray(frame: torch.Tensor) -> np.ndarray:
    """A 1×3×H×W (or 3×H×W) image in [0, 1] as an 8-bit grey H×W array, what OpenCV's flow takes."""
    x = frame if frame.dim() == 4 else frame.unsqueeze(0)
    grey = rgb_to_yiq(x[:1])[0, 0].clamp(0, 1)  # Y: 0.299 R + 0.587 G + 0.114 B
    return (grey * 255).round().to(torch.uint8).cpu().numpy()


def optical_flow(source: torch.Tensor, target: torch.Tensor, method: str = "dis") -> torch.Tensor:
    """The flow from `source` to `target` (images 1×3×H×W): 2×H×W, `source`(p) ≈ `target`(p + flow(p))."""
    import cv2

    a, b = _gray(source), _gray(target)
    if method == "dis":
        dis = cv2.DISOpticalFlow_create(cv2.DISOPTICAL_FLOW_PRESET_MEDIUM)  # type: ignore[attr-defined]
        flow = dis.calc(a, b, None)
    elif method == "farneback":
        flow = cv2.calcOpticalFlowFarneback(a, b, None, 0.5, 3, 15, 3, 5, 1.2, 0)
    else:
        raise ValueError(f"flow method {method!r}: choose one of {', '.join(FLOW_METHODS)}")
    return torch.from_numpy(np.ascontiguousarray(flow)).permute(2, 0, 1).float()


def warp(image: torch.Tensor, flow: torch.Tensor) -> torch.Tensor:
    """ω: `image` (B×C×H×W) sampled at p + flow(p) (bilinear, borders repeated), so a frame's content is moved to
    where the flow says it is in the frame of `flow`."""
    _, _, h, w = image.shape
    ys, xs = torch.meshgrid(torch.arange(h, dtype=torch.float32), torch.arange(w, dtype=torch.float32), indexing="ij")
    fx, fy = flow[0].to(torch.float32), flow[1].to(torch.float32)
    # grid_sample wants [-1, 1] coordinates, pixel centres at align_corners=True's positions
    gx = 2 * (xs + fx) / max(w - 1, 1) - 1
    gy = 2 * (ys + fy) / max(h - 1, 1) - 1
    grid = torch.stack([gx, gy], dim=-1).unsqueeze(0).expand(image.shape[0], -1, -1, -1).to(image)
    return F.grid_sample(image, grid, mode="bilinear", padding_mode="border", align_corners=True)


def certainty(forward: torch.Tensor, backward: torch.Tensor) -> torch.Tensor:
    """c ∈ {0, 1} (H×W) for frame i from the flows w (frame i−1 → i, `forward`) and w̃ (i → i−1, `backward`).

    c = 0 where p + w̃(p) lies outside frame i−1 (what enters the frame was never there to warp), where the
    forward-backward check fails, |w̃ + w(p + w̃)|² > 0.01(|w̃|² + |w(p + w̃)|²) + 0.5
    (disocclusion), or at motion boundaries, |∇ũ|² + |∇ṽ|² > 0.01|w̃|² + 0.002 (Ruder et al., Sec. 3.1)."""
    back = backward.float()
    fwd = warp(forward.float().unsqueeze(0), back).squeeze(0)  # w(p + w̃(p))
    sum_sq = ((back + fwd) ** 2).sum(0)
    inconsistent = sum_sq > 0.01 * ((back**2).sum(0) + (fwd**2).sum(0)) + 0.5
    du_y, du_x = torch.gradient(back[0])
    dv_y, dv_x = torch.gradient(back[1])
    boundary = du_x**2 + du_y**2 + dv_x**2 + dv_y**2 > 0.01 * (back**2).sum(0) + 0.002
    # the warp repeats the border there, which the consistency check passes on a pan: left in, the temporal
    # loss would smear the edge row across the entering strip
    h, w = back.shape[1:]
    ys, xs = torch.meshgrid(torch.arange(h, dtype=torch.float32), torch.arange(w, dtype=torch.float32), indexing="ij")
    x, y = xs + back[0], ys + back[1]
    outside = (x < 0) | (x > w - 1) | (y < 0) | (y > h - 1)
    return (~(inconsistent | boundary | outside)).float()


def frame_flow(previous: torch.Tensor, current: torch.Tensor, method: str = "dis") -> tuple[torch.Tensor, torch.Tensor]:
    """What frame `current` needs from `previous` (1×3×H×W each): the flow to warp the previous frame onto it
    (w̃, current → previous) and the certainty of that warp (H×W)."""
    forward = optical_flow(previous, current, method)
    backward = optical_flow(current, previous, method)
    return backward, certainty(forward, backward)
