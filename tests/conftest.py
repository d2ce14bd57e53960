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
