"""Shared fixtures: tiny images made by the tests, the original VGG-19 loaded once per session."""

from __future__ import annotations

import http.server
import os
import threading
from fractions import Fraction
from pathlib import Path

import av
import numpy as np
import pytest
from PIL import Image

from nstlib.model.vgg import load_weights

ROOT = Path(__file__).resolve().parent.parent
RATE = 16000  # Hz: the sound of `clip_with_sound`
TONES = (440.0, 880.0, 1320.0, 1760.0)  # Hz, one per half second: where a cut falls shows in the pitch


def make_image(path: Path, size=(48, 40), seed: int = 0, mode: str = "RGB") -> Path:
    """A smooth coloured test image with some structure (not noise), saved at `path`."""
    rng = np.random.default_rng(seed)
    w, h = size
    yy, xx = np.mgrid[0:h, 0:w] / max(w, h)
    phase = rng.uniform(0, 6, 3)
    arr = np.stack([0.5 + 0.5 * np.sin(8 * xx + phase[i] + 5 * yy * i) for i in range(3)], -1)
    Image.fromarray((arr * 255).astype(np.uint8)).convert(mode).save(path)
    return path


def clip_with_sound(path: Path, frames: int, fps: int, tones=TONES, size=(32, 24)) -> Path:
    """An mp4 of `frames` grey frames at `fps` and AAC sound of half-second tones (nothing if `tones` is empty)."""
    with av.open(str(path), "w") as out:
        video = out.add_stream("libx264", rate=fps)
        video.width, video.height, video.pix_fmt = size[0], size[1], "yuv420p"
        sound = out.add_stream("aac", rate=RATE) if tones else None  # every stream before the first packet
        if sound is not None:
            sound.layout = "mono"
        for i in range(frames):
            image = np.full((size[1], size[0], 3), 10 * i % 255, np.uint8)
            for packet in video.encode(av.VideoFrame.from_ndarray(image, format="rgb24")):
                out.mux(packet)
        out.mux(video.encode())
        if sound is not None:
            t = np.arange(int(RATE * 0.5 * len(tones))) / RATE
            wave = np.sin(2 * np.pi * np.repeat(tones, int(RATE * 0.5)) * t).astype(np.float32)
            for start in range(0, len(wave), 1024):
                frame = av.AudioFrame.from_ndarray(wave[None, start : start + 1024], format="flt", layout="mono")
                frame.sample_rate, frame.pts, frame.time_base = RATE, start, Fraction(1, RATE)
                for packet in sound.encode(frame):
                    out.mux(packet)
            out.mux(sound.encode())
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
        metrics=False,  # scored at a fixed 256 px, they would outweigh a 64 px run (tests that score ask for them)
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


MAX_WORKERS = 4  # each worker holds its own VGG-19 and run buffers (~1-2 GB at peak): more would not fit 24 GB


def _cores() -> int:
    """The cores this process may run on (its affinity on Linux, the machine's elsewhere)."""
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1


def pytest_xdist_auto_num_workers(config) -> int:
    """`-n auto` (pyproject's addopts): one worker per core, at most MAX_WORKERS."""
    return max(1, min(MAX_WORKERS, _cores()))


def pytest_configure(config) -> None:
    """Each xdist worker gets its share of the cores, and so do the processes it starts (OMP_NUM_THREADS): two
    workers of two threads each on two cores would contend and run slower than one."""
    workers = int(os.environ.get("PYTEST_XDIST_WORKER_COUNT", "1"))
    if workers > 1:
        import torch

        threads = max(1, _cores() // workers)
        torch.set_num_threads(threads)
        os.environ["OMP_NUM_THREADS"] = str(threads)


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
