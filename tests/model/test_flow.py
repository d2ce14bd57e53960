"""Optical flow, warping and the certainty of Ruder et al. (GCPR 2016) on synthetic frames of known motion."""

from __future__ import annotations

import torch

from nstlib.model.flow import certainty, frame_flow, optical_flow, warp


def _texture(h: int = 48, w: int = 64, seed: int = 0) -> torch.Tensor:
    """A smooth random texture (flow needs structure everywhere), 1×3×H×W in [0, 1]."""
    g = torch.Generator().manual_seed(seed)
    coarse = torch.rand(1, 3, h // 8, w // 8, generator=g)
    return torch.nn.functional.interpolate(coarse, size=(h, w), mode="bicubic", align_corners=False).clamp(0, 1)


def test_warp_by_a_constant_flow_is_a_shift():
    image = torch.rand(2, 3, 20, 24)
    flow = torch.zeros(2, 20, 24)
    flow[0] = 3.0  # every pixel is found 3 px to the right
    out = warp(image, flow)
    assert torch.allclose(out[..., :, :-3], image[..., :, 3:], atol=1e-5)


def test_flow_finds_a_known_shift_and_warping_undoes_it():
    base = _texture(56, 72)
    previous, current = base[..., 4:52, 4:68], base[..., 4:52, 6:70]  # the scene moves 2 px left
    backward = optical_flow(current, previous, "dis")  # current → previous: +2 px in x
    inner = (slice(8, -8), slice(8, -8))
    assert abs(float(backward[0][inner].median()) - 2.0) < 0.3  # current(p) = previous(p + (2, 0))
    assert abs(float(backward[1][inner].median())) < 0.3
    warped = warp(previous, backward)
    before = (current - previous)[..., 8:-8, 8:-8].abs().mean()
    after = (current - warped)[..., 8:-8, 8:-8].abs().mean()
    assert after < 0.3 * before


def test_farneback_agrees_on_the_shift():
    base = _texture(56, 72, seed=1)
    previous, current = base[..., 4:52, 4:68], base[..., 4:52, 6:70]
    dis = optical_flow(current, previous, "dis")[:, 8:-8, 8:-8].median(dim=-1).values.median(dim=-1).values
    farneback = optical_flow(current, previous, "farneback")[:, 8:-8, 8:-8].median(dim=-1).values.median(dim=-1).values
    assert torch.allclose(dis, farneback, atol=0.5)


def test_consistent_flows_are_certain_and_an_occlusion_is_not():
    h, w = 40, 40
    forward = torch.zeros(2, h, w)
    forward[0] = 2.0
    backward = -forward.clone()
    c = certainty(forward, backward)
    assert bool((c[:, 2:] == 1).all())  # a uniform motion, forward and back agree
    assert bool((c[:, :2] == 0).all())  # what entered the frame on the left was not in the previous one
    # a square whose backward flow disagrees with the forward flow (it was hidden in the previous frame)
    backward[:, 15:25, 15:25] = 0.0
    backward[0, 15:25, 15:25] = 6.0
    c = certainty(forward, backward)
    assert bool((c[17:23, 17:23] == 0).all())  # the occluded square
    assert bool((c[:8, 2:8] == 1).all())  # away from it
    assert set(c.unique().tolist()) <= {0.0, 1.0}


def test_motion_boundary_is_uncertain():
    h, w = 32, 32
    backward = torch.zeros(2, h, w)
    backward[0, :, 16:] = 4.0  # the right half moves, the left does not: a motion boundary at x = 16
    forward = -warp(backward.unsqueeze(0), backward).squeeze(0)
    boundary = certainty(forward, backward)[:, 15:17]
    assert bool((boundary == 0).all())


def test_frame_flow_gives_flow_and_mask_of_the_frame_size():
    a, b = _texture(), _texture(seed=2)
    flow, c = frame_flow(a, b)
    assert flow.shape == (2, 48, 64) and c.shape == (48, 64)


def test_a_pan_is_uncertain_where_the_scene_enters_the_frame():
    base = _texture(56, 80, seed=3)
    previous, current = base[..., 4:52, 4:68], base[..., 4:52, 10:74]  # the camera pans 6 px right
    flow, c = frame_flow(previous, current)
    assert float(c[8:-8, -4:].mean()) < 0.1  # the strip that entered on the right
    assert float(c[8:-8, 8:-10].mean()) > 0.9
