"""What NST Lab promises when things go wrong: one line, no hang, no lost or half-written record.

One test (or a few) per class of failure found by an adversarial pass.
"""

from __future__ import annotations

import errno
import http.server
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
import yaml

import nstlib
from nstlib import images as im
from nstlib.ui.cli import EXIT_CANNOT_WRITE, main
from nstlib.files import FolderLock, read_json
from nstlib.record.runs import read_csv

from conftest import ROOT, make_image

CONTENT = str(ROOT / "collections/content/chelsea.jpg")
STYLE = str(ROOT / "collections/style/starry_swirls.jpg")
TINY = ["--image-size", "48", "--epochs", "3", "--save-every", "1", "--progress", "none", "--device", "cpu"]


def one_line_error(capsys) -> str:
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "Traceback" not in err, err
    return err


# ---- 1. one process per sweep folder and per run folder -----------------------------------------------
def tiny_sweep_file(tmp_path: Path, points: int = 2) -> Path:
    path = tmp_path / "s.yaml"
    weights = [10.0**i for i in range(points)]
    path.write_text(
        yaml.safe_dump(
            {
                "base": {
                    "image_size": 32,
                    "epochs": 1,
                    "save_every": 0,
                    "progress": "none",
                    "runs_dir": str(tmp_path / "runs"),
                    "style_layers": ["relu1_1"],
                    "content_layers": ["relu2_1"],
                },
                "axes": {"style_weight": weights},
            }
        )
    )
    return path


def test_a_second_process_on_a_sweep_folder_is_refused(tmp_path, capsys, original_weights):
    assert main(["sweep", str(tiny_sweep_file(tmp_path))]) == 0
    folder = next((tmp_path / "runs").iterdir())
    before = {p.name: p.stat().st_mtime_ns for p in folder.rglob("final.png")}
    with FolderLock(folder, "this sweep"):  # as a running `nst sweep --resume` holds it
        assert main(["sweep", "--resume", str(folder)]) == 2
    err = capsys.readouterr().err
    assert "in use by another nst process" in err and err.count("\n") == 1
    assert {p.name: p.stat().st_mtime_ns for p in folder.rglob("final.png")} == before  # nothing cleared
    assert not (folder / ".nst.lock").exists()


def test_a_run_folder_being_written_is_refused(tmp_path, original_weights):
    folder = tmp_path / "point"
    folder.mkdir()
    with FolderLock(folder, "this run folder"), pytest.raises(nstlib.UserError, match="in use by another"):
        nstlib.transfer(content=CONTENT, style=[STYLE], image_size=32, epochs=1, run_dir=folder, progress="none")


# ---- 2. Ctrl-C twice: the record is still written -----------------------------------------------------
def _as_from_a_shell() -> None:
    """The child's SIGINT and SIGTERM as a shell or a batch scheduler leaves them: default and unblocked. Ignored or
    blocked dispositions are inherited across exec, and whatever an earlier test's libraries left in this process
    (the test passes alone but saw exit 0, the Ctrl-C never delivered, late in a full CI run) must not decide this
    test."""
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.pthread_sigmask(signal.SIG_UNBLOCK, {sig})
        signal.signal(sig, signal.SIG_DFL)


def _nst_until(args: list[str], folder: Path, pattern: str) -> subprocess.Popen:
    """`python -m nstlib ARGS` started as from a shell, once a file matching `pattern` under `folder` exists."""
    proc = subprocess.Popen(
        [sys.executable, "-m", "nstlib", *args],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        preexec_fn=_as_from_a_shell,
    )
    deadline = time.time() + 180
    while not list(folder.glob(pattern)) and time.time() < deadline:
        time.sleep(0.1)
    return proc


def test_second_ctrl_c_during_cleanup_still_writes_the_record(tmp_path):
    runs = tmp_path / "runs"
    args = ["run", "--image-size", "96", "--epochs", "400", "--save-every", "1", "--progress", "none"]
    proc = _nst_until([*args, "--device", "cpu", "--runs-dir", str(runs)], runs, "*/frames/epoch_00002.png")
    proc.send_signal(signal.SIGINT)
    time.sleep(0.05)  # the run is now in its cleanup (final losses, final.png, panel, video)
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 130, err
    (folder,) = runs.iterdir()
    info = read_json(folder / "config.json")
    assert info["status"] == "interrupted" and (folder / "final.png").is_file() and (folder / "progress.mp4").is_file()
    assert "Traceback" not in err and f"{folder} keeps what was made (status interrupted)" in err


def test_sigterm_to_a_sweep_is_an_interruption_with_records_written(tmp_path):
    spec = tmp_path / "sweep.yaml"
    spec.write_text(
        "name: term\nbase:\n  image_size: 48\n  epochs: 400\n  save_every: 1\n  tolerance: 0\n"
        f"  progress: none\n  device: cpu\n  runs_dir: {tmp_path / 'runs'}\naxes:\n  style_weight: [1e3, 1e4]\n"
    )
    runs = tmp_path / "runs"
    proc = _nst_until(["sweep", str(spec)], runs, "*/*/frames/epoch_00002.png")
    proc.send_signal(signal.SIGTERM)
    _, err = proc.communicate(timeout=180)
    assert proc.returncode == 143, err
    assert "Traceback" not in err and "terminated (SIGTERM)" in err
    (sweep,) = runs.iterdir()
    rows = read_csv(sweep / "index.csv")
    assert [r["status"] for r in rows] == ["interrupted", "interrupted"], rows
    for row in rows:
        info = read_json(sweep / row["folder"] / "config.json")
        assert info["status"] == "interrupted" and info["reason"] == "SIGTERM (terminated)"
        assert (sweep / row["folder"] / "final.png").is_file()
    assert not list(runs.rglob(".nst.lock")), "locks left behind"


# ---- 3. disk full --------------------------------------------------------------------------------------
def test_disk_full_is_one_line_and_the_run_is_marked_failed(tmp_path, capsys, monkeypatch, original_weights):
    def full(*args, **kwargs):
        raise OSError(errno.ENOSPC, "No space left on device", str(tmp_path / "runs" / "x" / ".final.tmp.png"))

    monkeypatch.setattr(im, "save_print", full)  # the writer of final.png
    assert main(["run", *TINY, "--runs-dir", str(tmp_path / "runs")]) == EXIT_CANNOT_WRITE
    assert "No space left on device" in one_line_error(capsys)
    (folder,) = (tmp_path / "runs").iterdir()
    info = read_json(folder / "config.json")
    assert info["status"] == "failed" and "No space left on device" in info["reason"]


# ---- 4. downloads: deadline, size cap, short bodies, error pages, redirect loops ----------------------
@pytest.fixture
def server():
    """A local server whose behaviour per path the test sets: routes[path] = handler(request)."""
    routes: dict = {}

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self):
            routes[self.path](self)

        def log_message(self, *a):
            pass

    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    httpd.daemon_threads = True
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    yield routes, f"http://127.0.0.1:{httpd.server_address[1]}"
    httpd.shutdown()


@pytest.fixture
def cache(tmp_path, monkeypatch):
    monkeypatch.setattr(im, "CACHE_DIR", tmp_path / "cache")
    monkeypatch.setattr(im, "DOWNLOAD_DEADLINE_S", 2.0)
    monkeypatch.setattr(im, "DOWNLOAD_MAX_BYTES", 200_000)
    return tmp_path / "cache"


def png_bytes(tmp_path: Path) -> bytes:
    return make_image(tmp_path / "served.png", (40, 32), 5).read_bytes()


def test_a_trickling_server_hits_the_total_deadline(server, cache):
    routes, base = server

    def trickle(h):
        h.send_response(200)
        h.send_header("Content-Length", "1000000")
        h.end_headers()
        for _ in range(100):
            h.wfile.write(b"x")
            h.wfile.flush()
            time.sleep(0.3)

    routes["/slow.jpg"] = trickle
    started = time.time()
    with pytest.raises(im.ImageError, match="longer than 2 s") as e:
        im.load_image(f"{base}/slow.jpg")
    assert time.time() - started < 6 and "\n" not in str(e.value)


def test_an_endless_body_hits_the_byte_cap(server, cache):
    routes, base = server

    def endless(h):
        h.send_response(200)
        h.end_headers()
        with __import__("contextlib").suppress(OSError):
            while True:
                h.wfile.write(b"\0" * 65536)

    routes["/big.png"] = endless
    with pytest.raises(im.ImageError, match="larger than 0.2 MB"):
        im.load_image(f"{base}/big.png")
    assert not list(cache.rglob("*.png"))


def test_a_short_body_is_one_line(server, cache, tmp_path):
    routes, base = server
    data = png_bytes(tmp_path)

    def short(h):
        h.send_response(200)
        h.send_header("Content-Length", str(len(data) * 2))
        h.end_headers()
        h.wfile.write(data)  # then the connection closes early

    routes["/short.png"] = short
    with pytest.raises(im.ImageError, match="download incomplete") as e:
        im.load_image(f"{base}/short.png")
    assert "\n" not in str(e.value)


def test_an_error_page_is_not_cached(server, cache, tmp_path):
    routes, base = server
    data = png_bytes(tmp_path)

    def html(h):
        h.send_response(200)
        h.send_header("Content-Type", "text/html")
        h.end_headers()
        h.wfile.write(b"<html>maintenance</html>")

    def image(h):
        h.send_response(200)
        h.send_header("Content-Type", "image/png")
        h.send_header("Content-Length", str(len(data)))
        h.end_headers()
        h.wfile.write(data)

    routes["/x.png"] = html
    with pytest.raises(im.ImageError, match="text/html, not an image"):
        im.load_image(f"{base}/x.png")
    routes["/x.png"] = image  # the server is fixed: the next load works
    assert im.load_image(f"{base}/x.png").shape == (1, 3, 32, 40)


def test_a_redirect_loop_is_one_line(server, cache):
    routes, base = server

    def loop(h):
        h.send_response(302)
        h.send_header("Location", "/loop.png")
        h.end_headers()

    routes["/loop.png"] = loop
    with pytest.raises(im.ImageError, match="cannot download") as e:
        im.load_image(f"{base}/loop.png")
    assert "\n" not in str(e.value)


# ---- 5. hostile YAML ------------------------------------------------------------------------------------
def test_billion_laughs_is_refused_quickly(tmp_path, capsys):
    lines = ['a: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]']
    for i, name in enumerate("bcdefghi"):
        prev = "abcdefghi"[i]
        lines.append(f"{name}: &{name} [" + ",".join([f"*{prev}"] * 9) + "]")
    lines.append("axes: {style_weight: *i}")
    path = tmp_path / "laughs.yaml"
    path.write_text("\n".join(lines))
    started = time.time()
    assert main(["sweep", str(path)]) == 2
    assert "malformed YAML" in one_line_error(capsys) and time.time() - started < 10


def test_deep_nesting_is_malformed_yaml(tmp_path, capsys):
    path = tmp_path / "deep.yaml"
    path.write_text("axes: {style_weight: " + "[" * 5000 + "]" * 5000 + "}")
    assert main(["sweep", str(path)]) == 2
    assert "malformed YAML" in one_line_error(capsys)


@pytest.mark.parametrize(
    "text, key, lines",
    [
        ("base:\n  epochs: 1\n  image_size: 32\n  epochs: 3\naxes:\n  seed: [1, 2]\n", "epochs", "2 and 4"),
        ("axes:\n  style_weight: [1, 10]\n  style_weight: [100]\n", "style_weight", "2 and 3"),
        ("axes:\n  seed: [1]\nzip:\n  lr: [1, 2]\n  lr: [3, 4]\n", "lr", "4 and 5"),
        ("axes:\n  init:\n    - {init: noise, seed: 1, seed: 2}\n", "seed", "3"),
        ("name: a\naxes:\n  seed: [1]\nname: b\n", "name", "1 and 4"),
    ],
)
def test_a_key_given_twice_is_malformed_yaml(text, key, lines, tmp_path, capsys):
    path = tmp_path / "twice.yaml"
    path.write_text(text)
    assert main(["sweep", str(path), "--set", f"runs_dir={tmp_path / 'runs'}"]) == 2
    err = one_line_error(capsys)
    assert "malformed YAML" in err
    assert err.rstrip().endswith(f"key {key!r} given twice on line{'s' if ' ' in lines else ''} {lines}")
    assert not (tmp_path / "runs").exists()


def test_yaml_merge_keys_still_override():
    from nstlib.sweep.spec import load_yaml

    assert load_yaml("a: &a {x: 1, y: 2}\nb:\n  <<: *a\n  y: 3\n")["b"] == {"x": 1, "y": 3}


# ---- 6. sweep size ------------------------------------------------------------------------------------
def test_a_huge_sweep_is_refused_unless_the_limit_is_raised(tmp_path, capsys):
    path = tmp_path / "huge.yaml"
    path.write_text(
        yaml.safe_dump({"axes": {"seed": list(range(101)), "style_weight": [1.0 * i for i in range(1, 11)]}})
    )
    assert main(["sweep", str(path), "--set", f"runs_dir={tmp_path / 'runs'}"]) == 2
    assert "1010 points, more than the limit of 1000" in one_line_error(capsys)
    assert not (tmp_path / "runs").exists()
    from nstlib.sweep import load_sweep

    assert len(load_sweep(path, max_points=2000).points) == 1010


# ---- 7. sizes that cannot fit are refused before anything is made ---------------------------------------
@pytest.mark.parametrize("flags", [["--image-size", "100000"], ["--style-scale", "1000", "--image-size", "256"]])
def test_sizes_that_cannot_fit_are_refused_first(flags, tmp_path, capsys):
    started = time.time()
    assert main(["run", *flags, "--runs-dir", str(tmp_path / "runs")]) == 2
    err = one_line_error(capsys)
    assert "GB available" in err and "needs ~" in err and time.time() - started < 20
    assert not (tmp_path / "runs").exists()


@pytest.mark.parametrize(
    "limit, cause",
    [
        ("0.001", "no size fits: the memory limit is below the ~0.9 GB the process itself needs"),
        ("0.9002", "no size fits: the memory limit does not hold even a 16 px image"),
    ],
)
def test_a_refusal_with_no_size_to_suggest_says_why(limit, cause, tmp_path, capsys):
    assert main(["run", "--image-size", "100000", "--memory-limit", limit, "--runs-dir", str(tmp_path / "runs")]) == 2
    err = one_line_error(capsys)
    assert cause in err and err.rstrip().endswith("; raise memory_limit") and "≤ 0 px" not in err
    assert not (tmp_path / "runs").exists()


# ---- 8. a batch whose samples all diverged stops ---------------------------------------------------------
def test_all_diverged_stops_early(tmp_path, original_weights):
    configs = [
        nstlib.Config(
            content=CONTENT,
            style=[STYLE],
            image_size=48,
            epochs=60,
            save_every=1,
            progress="none",
            runs_dir=str(tmp_path),
            style_weight=w,
        )
        for w in (1e38, 3e38)
    ]
    results = nstlib.transfer_batch(configs)
    for r in results:
        assert r.status == "failed" and "non-finite" in r.reason
        frames = list((r.run_dir / "frames").glob("*.png"))
        assert len(frames) < 20  # not 60 frozen frames
        assert (r.run_dir / "final.png").is_file()


# ---- 9. too small for the deepest layer -------------------------------------------------------------------
def test_a_strip_too_thin_for_the_deepest_layer_is_refused(tmp_path, capsys):
    strip = make_image(tmp_path / "strip.png", (1000, 3), 1)
    assert main(["run", "--content", str(strip), "--image-size", "512", "--runs-dir", str(tmp_path / "runs")]) == 2
    assert "too small for layer" in one_line_error(capsys)
    thin_style = make_image(tmp_path / "thin.png", (900, 20), 2)
    assert main(["run", "--style", str(thin_style), "--image-size", "64", "--runs-dir", str(tmp_path / "runs")]) == 2
    assert "style_scale" in one_line_error(capsys)
    assert not (tmp_path / "runs").exists()


# ---- 10. more bad input, each one line ---------------------------------------------------------------------
@pytest.mark.parametrize(
    "flags, message",
    [
        (["--seed", "1e20"], "seed: must be <="),
        (["--content-layers", "", "--style-layers", "", "--content-weight", "0", "--style-weight", "0"], "both empty"),
        (["--content-weight", "0", "--style-weight", "0"], "nothing to optimise"),
        (["--style", ""], "style: an empty path"),
        (["--style", STYLE, "--style", STYLE, "--style-blend-weights", "0,0"], "style_blend_weights: all zero"),
        (["--style", STYLE, "--style", STYLE, "--style-blend-weights", "1,-1"], "style_blend_weights: must be >= 0"),
        (["--style-layers", "relu1_1,relu1_1"], "style_layers: 'relu1_1' is listed twice"),
        (["--content-layers", "relu4_2,relu2_1,relu4_2"], "content_layers: 'relu4_2' is listed twice"),
        (["--sizes", "32,64,32"], "sizes: 32 is listed twice"),
    ],
)
def test_bad_values_are_one_line(flags, message, tmp_path, capsys):
    assert main(["run", *flags, "--runs-dir", str(tmp_path / "runs")]) == 2
    assert message in one_line_error(capsys)
    assert not (tmp_path / "runs").exists()


def test_a_path_holding_a_newline_stays_one_line(tmp_path, capsys, monkeypatch):
    odd = tmp_path / "two\nlines.jpg"
    assert main(["run", "--content", str(odd), "--runs-dir", str(tmp_path / "runs")]) == 2
    assert "content: " + repr(str(odd)) + ": file not found" in one_line_error(capsys)
    assert main(["sweep", str(tmp_path / "a\nsweep.yaml")]) == 2
    assert "a\\nsweep.yaml': sweep file not found" in one_line_error(capsys)

    # the last guard: a message that still holds a line break is printed on one line
    def params(args):
        raise nstlib.UserError("a\nb\rc")

    monkeypatch.setattr("nstlib.ui.cli.cmd_params", params)
    assert main(["params"]) == 2
    assert one_line_error(capsys) == "nst: error: a\\nb\\rc\n"
    assert not (tmp_path / "runs").exists()


def test_a_symlink_loop_or_a_fifo_is_named(tmp_path, capsys):
    import os

    loop, fifo = tmp_path / "loop.jpg", tmp_path / "fifo.png"
    loop.symlink_to(loop)
    os.mkfifo(fifo)  # opening it would wait for a writer forever
    runs = ["--runs-dir", str(tmp_path / "runs")]
    cases = [
        (["--content", str(loop)], "content: " + repr(str(loop)) + ": a symlink loop"),
        (["--style", str(fifo)], "style: " + repr(str(fifo)) + ": not a regular file (a FIFO)"),
        (["--init", str(loop)], "init: " + repr(str(loop)) + ": a symlink loop"),
        (["--weights", str(tmp_path / "fifo.pth")], "weights file " + repr(str(tmp_path / "fifo.pth"))),
    ]
    os.mkfifo(tmp_path / "fifo.pth")
    for flags, message in cases:
        assert main(["run", *TINY, *flags, *runs]) == 2, flags
        assert message in one_line_error(capsys)
    sweep = tmp_path / "s.yaml"
    sweep.write_text(
        yaml.safe_dump({"base": {"content": str(fifo), "runs_dir": str(tmp_path / "runs")}, "axes": {"seed": [1]}})
    )
    assert main(["sweep", str(sweep)]) == 2
    assert "content: " + repr(str(fifo)) + ": not a regular file (a FIFO)" in one_line_error(capsys)
    assert main(["sweep", str(fifo)]) == 2
    assert "not a regular file (a FIFO)" in one_line_error(capsys)
    assert not (tmp_path / "runs").exists()


def test_runs_dir_that_is_a_file_or_under_one(tmp_path, capsys, original_weights):
    afile = tmp_path / "afile"
    afile.write_text("x")
    for runs_dir in (afile, afile / "sub"):
        assert main(["run", *TINY, "--runs-dir", str(runs_dir)]) == 2
        assert "runs_dir: cannot make a folder" in one_line_error(capsys)


def test_an_explicit_runs_dir_is_relative_to_the_current_directory(tmp_path, monkeypatch, original_weights):
    from nstlib.paths import resolve_output

    checkout_runs = ROOT / "runs"
    before = set(checkout_runs.iterdir()) if checkout_runs.is_dir() else set()
    monkeypatch.chdir(tmp_path)
    assert main(["run", *TINY, "--runs-dir", "runs", "--name", "here"]) == 0  # "runs", the old default, given
    (run,) = (tmp_path / "runs").iterdir()
    assert run.name.endswith("_here") and (run / "final.png").is_file()
    assert (set(checkout_runs.iterdir()) if checkout_runs.is_dir() else set()) == before
    assert resolve_output("") == checkout_runs and nstlib.Config().runs_dir == ""  # only the default is the checkout's


def test_a_state_dict_missing_a_key_is_one_line(tmp_path, capsys):
    import torch

    from nstlib.model.vgg import random_weights

    stack = random_weights("vgg19")
    state = {f"features.{i}.weight": w for i, (w, _) in enumerate(stack.weights)}  # biases missing
    path = tmp_path / "nobias.pth"
    torch.save(state, path)
    assert main(["run", *TINY, "--weights", str(path), "--runs-dir", str(tmp_path / "runs")]) == 2
    assert "nobias.pth': no 'features.0.bias' in the state dict" in one_line_error(capsys)
    assert not (tmp_path / "runs").exists()
