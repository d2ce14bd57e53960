"""Scores of finished images: the edge score against its definition and on constructed cases."""

import pytest
import torch

from nstlib.record.metrics import edge_score, edge_scores


def ramp(h: int = 64, w: int = 80) -> torch.Tensor:
    """A smooth grey image: a tilt (0.004 per row, 0.003 per column) and a faint ripple."""
    y = torch.arange(h).view(h, 1).float()
    x = torch.arange(w).view(1, w).float()
    grey = 0.2 + 0.004 * y + 0.003 * x + 0.002 * torch.sin(y / 3) * torch.cos(x / 5)
    return grey.expand(3, h, w).clone()


def test_edge_score_is_the_outer_jump_over_the_inner_median():
    img = ramp()
    img[:, 1, :] += 0.1  # a bright line one row inside the top edge
    rows = img.mean(-1)
    jumps = (rows[:, 1:] - rows[:, :-1]).norm(dim=0)
    expected = float(jumps[:4].max() / jumps[8:40].median())
    assert edge_scores(img)["top"] == pytest.approx(expected)
    assert edge_scores(img)["top"] > 10 * edge_scores(img)["bottom"]


def test_a_frame_scores_high_a_smooth_image_low_and_scale_does_not_matter():
    clean = ramp()
    framed = clean.clone()
    framed[:, :, -3:] = 0.9  # a 3-px frame on the right
    assert edge_score(clean) < 2
    assert edge_scores(framed)["right"] > 20 and edge_scores(framed)["left"] < 2
    assert edge_score(framed.unsqueeze(0) * 255) == pytest.approx(edge_score(framed), rel=1e-4)


def test_too_small_an_image_is_refused():
    with pytest.raises(ValueError, match="sides over 40 px"):
        edge_score(torch.rand(3, 40, 64))
