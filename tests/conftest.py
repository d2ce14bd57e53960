"""Shared fixtures: tiny images made by the tests, the original VGG-19 loaded once per session."""

from __future__ import annotations

import http.server
import os
import threading
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from nstlib.model.vgg import load_weights

ROOT = Path(__file__).resolve().parent.parent


def make_image(path: Path, size=(48, 40), seed: int = 0, mode: str = "RGB") -> Path:
    """A smooth coloured test image with some structure (not noise), saved at `path`."""
    rng = np.random.default_rng(seed)
    w, h = size
    yy, xx = np.mgrid[0:h, 0:w] / max(w, h)
    phase = rng.uniform(0, 6, 3)
    arr = np.stack([0.5 + 0.5 * np.sin(8 * xx + phase[i] + 5 * yy * i) for i in range(3)], -1)
    Image.fromarray((arr * 255).astype(np.uint8)).convert(mode).save(path)
    return path


def tiny_config(tmp_path: Path, **kw):
    """A fast, deterministic experiment on the bundled chelsea × starry_swirls; `kw` overrides any field."""
    from nstlib import Config

    base = dict(
        content=str(ROOT / "collections/content/chelsea.jpg"),
        style=[str(ROOT / "collections/style/starry_swirls.jpg")],
        image_size=64,
        epochs=3,
        save_every=0,
        progress="none",
        runs_dir=str(tmp_path / "runs"),
        precision="fp32",
        device="cpu",
    )
    return Config(**{**base, **kw})


def assert_style_loss_is_direct(name: str, f, s, direct, layer: str = "relu2_1") -> None:
    """The catalog style loss `name` of features `f` (1×N×h×w) against style features `s`: its value and gradient
    equal `direct`'s, a plain implementation on the flattened N×M features in fp64."""
    import torch

    from nstlib.losses.style import lookup

    loss = lookup(name)
    target = loss.stack([loss.target([loss.statistics(s, None, layer)], [1.0], 20)])
    f = f.detach().requires_grad_(True)
    value = loss.loss(f, target, None)
    (grad,) = torch.autograd.grad(value.sum(), f)
    fd = f.detach().double().requires_grad_(True)
    expected = direct(fd[0].flatten(1), s[0].flatten(1).double())
    (expected_grad,) = torch.autograd.grad(expected, fd)
    assert value.item() == pytest.approx(expected.item(), rel=1e-5)
    torch.testing.assert_close(grad.double(), expected_grad, rtol=1e-4, atol=1e-7)


def assert_mask_is_the_region_alone(name: str, seed: int):
    """A 0/1 mask gives the catalog style loss `name` of the features inside it alone, per sample of a batch of
    two; returns the masked losses."""
    import torch

    from nstlib.losses.style import lookup

    gen = torch.Generator().manual_seed(seed)
    f, s = torch.rand(2, 3, 4, 6, generator=gen), torch.rand(1, 3, 5, 5, generator=gen)
    loss = lookup(name)
    row = loss.target([loss.statistics(s, None, "relu1_1")], [1.0], 24)
    mask = torch.zeros(2, 1, 4, 6)
    mask[0, :, :, :3] = 1
    mask[1, :, 1:, :] = 1
    masked = loss.loss(f, loss.stack([row, row]), mask)
    alone = [loss.loss(f[0:1, :, :, :3], [row], None), loss.loss(f[1:2, :, 1:, :], [row], None)]
    torch.testing.assert_close(masked, torch.cat(alone), rtol=1e-5, atol=1e-7)
    return masked


@pytest.fixture(scope="session", autouse=True)
def precision_cache(tmp_path_factory):
    """precision 'auto' measures this machine once per session, not the user's cache (subprocesses inherit it)."""
    os.environ["NSTLIB_CACHE_DIR"] = str(tmp_path_factory.mktemp("nstlib-cache"))


@pytest.fixture(scope="session")
def original_weights():
    return load_weights("vgg19", "original")


@pytest.fixture(scope="session")
def images(tmp_path_factory) -> dict[str, Path]:
    folder = tmp_path_factory.mktemp("images")
    return {
        "content": make_image(folder / "content.png", (48, 40), 1),
        "style": make_image(folder / "style.png", (40, 40), 2),
        "style2": make_image(folder / "style2.jpg", (56, 40), 3),
    }


@pytest.fixture
def serve(tmp_path):
    """Serve a folder over http on 127.0.0.1; yields (folder, base_url)."""
    folder = tmp_path / "www"
    folder.mkdir()

    class Handler(http.server.SimpleHTTPRequestHandler):
        def __init__(self, *a, **kw):
            super().__init__(*a, directory=str(folder), **kw)

        def log_message(self, *a):
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield folder, f"http://127.0.0.1:{server.server_address[1]}/"
    server.shutdown()
