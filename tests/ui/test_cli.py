import dataclasses
import json
import os
import re
import subprocess
import sys

import pytest

from nstlib import Config
from nstlib.ui.cli import build_parser, main, parameter_table

from conftest import ROOT, make_image


def run_cli(*args):
    return subprocess.run(
        [sys.executable, "-m", "nstlib", *args], capture_output=True, text=True, cwd=ROOT, timeout=120
    )


def test_help_lists_every_config_field():
    out = run_cli("run", "--help").stdout
    for f in dataclasses.fields(Config):
        assert f"--{f.name.replace('_', '-')}" in out


@pytest.mark.parametrize(
    "args, message",
    [
        (["--pooling", "mean"], "pooling: 'mean' is not one of avg, max"),
        (["--style-weight", "abc"], "style_weight: expected a number"),
        (["--content", "nope.jpg"], "content: 'nope.jpg': file not found"),
        (["--content-layers", "relu9_1"], "content_layers: unknown content layer 'relu9_1'"),
    ],
)
def test_bad_input_exits_2_with_one_line(args, message, capsys):
    assert main(["run", *args]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("nst: error: ") and message in err


def test_non_image_style_exits_2_in_a_real_process(tmp_path):
    bad = tmp_path / "style.jpg"
    bad.write_text("not an image")
    p = run_cli("run", "--style", str(bad), "--runs-dir", str(tmp_path))
    assert p.returncode == 2 and "Traceback" not in p.stderr
    assert p.stderr.strip().splitlines() == [
        f"nst: error: style: {str(bad)!r}: not an image file (unrecognised format)"
    ]
    assert not list(tmp_path.glob("20*"))  # nothing started


def test_run_tiny_end_to_end(tmp_path, original_weights, capsys):
    content = make_image(tmp_path / "c.png", (40, 32), 1)
    code = main(
        [
            "run",
            "--content",
            str(content),
            "--style",
            str(make_image(tmp_path / "s1.png", seed=2)),
            "--style",
            str(make_image(tmp_path / "s2.png", seed=3)),
            "--image-size",
            "32",
            "--epochs",
            "3",
            "--progress",
            "text",
            "--log-every",
            "1",
            "--runs-dir",
            str(tmp_path / "runs"),
            "--no-video",
            "--name",
            "my run",
        ]
    )
    out = capsys.readouterr().out
    assert code == 0 and "step 3/3" in out
    (run,) = (tmp_path / "runs").iterdir()
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d-\d\d-\d\dZ_my-run", run.name)
    info = json.loads((run / "config.json").read_text())
    assert info["status"] == "done" and len(info["config"]["style"]) == 2
    assert not (run / "progress.mp4").exists() and (run / "final.png").exists()


def test_layers_command():
    p = run_cli("layers", "--model", "vgg16")
    assert p.returncode == 0 and "relu5_3" in p.stdout and "conv5_4" not in p.stdout


def test_docs_parameter_table_matches_config():
    page = (ROOT / "docs/parameters.md").read_text()
    assert parameter_table() in page


def test_parser_builds():
    assert build_parser().parse_args(["run", "--style-weight", "5"]).style_weight == "5"


def test_closed_pipe_is_quiet():
    """`nst params | head -1`: no BrokenPipeError traceback, exit 141 as for SIGPIPE."""
    read_end, write_end = os.pipe()
    os.close(read_end)  # the reader is gone before anything is written: every write fails
    try:
        out = subprocess.run(
            [sys.executable, "-m", "nstlib", "params"],
            stdout=write_end,
            stderr=subprocess.PIPE,
            text=True,
            cwd=ROOT,
            timeout=60,
        )
    finally:
        os.close(write_end)
    assert out.returncode == 141 and out.stderr == "", out.stderr


@pytest.mark.parametrize(
    "command, typo, fix", [("run", "--image-szie", "--image-size"), ("sweep", "--resme", "--resume")]
)
def test_mistyped_flag_gets_the_subcommands_usage_and_a_suggestion(command, typo, fix, capsys):
    with pytest.raises(SystemExit) as e:
        main([command, typo, "64"])
    err = capsys.readouterr().err
    assert e.value.code == 2
    assert err.startswith(f"usage: nst {command} ") and f"did you mean {fix}?" in err and "Traceback" not in err


def test_too_small_image_is_refused_before_model_work(tmp_path, capsys):
    assert main(["run", "--image-size", "16", "--runs-dir", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert "image_size: 16 px" in err and "relu5_1" in err and err.count("\n") == 1
    assert not list(tmp_path.iterdir())  # no run folder made


def test_metrics_command_scores_runs_and_sweeps(tmp_path, original_weights, capsys):
    import nstlib
    from nstlib.files import read_csv
    from nstlib.record.metrics import METRIC_NAMES

    content, style = make_image(tmp_path / "c.png", (48, 40), 1), make_image(tmp_path / "s.png", (40, 40), 2)
    base = {"content": str(content), "style": [str(style)], "image_size": 48, "epochs": 1, "save_every": 0}
    base |= {"video": False, "tensorboard": False, "metrics": False, "runs_dir": str(tmp_path / "runs")}
    sweep = nstlib.sweep({"name": "m", "base": base, "axes": {"style_weight": [1e2, 1e4]}}, verbose=False).folder
    run = sweep / "01_style_weight=100"
    assert not (run / "metrics.json").exists() and read_csv(sweep / "index.csv")[0]["ssim"] == ""
    capsys.readouterr()
    assert main(["metrics", str(sweep)]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].split("\t") == ["run", *(n.removesuffix("_distance") for n in METRIC_NAMES)]
    assert [line.split("\t")[0] for line in lines[1:]] == [
        f"{sweep.name}/01_style_weight=100",
        f"{sweep.name}/02_style_weight=1e4",
    ]
    written = json.loads((run / "metrics.json").read_text())
    assert written == json.loads((run / "config.json").read_text())["metrics"]
    assert lines[1].split("\t")[METRIC_NAMES.index("ssim") + 1] == f"{written['ssim']:.4g}"
    rows = read_csv(sweep / "index.csv")
    assert [float(r["ssim"]) for r in rows] == pytest.approx(
        [written["ssim"], json.loads((sweep / "02_style_weight=1e4" / "metrics.json").read_text())["ssim"]], rel=1e-6
    )
    assert main(["metrics", str(run)]) == 0  # one point of a sweep: its files and the sweep's index
    assert capsys.readouterr().out.splitlines()[1].startswith("01_style_weight=100\t")


def test_metrics_command_refuses_a_folder_that_is_no_run_in_one_line(tmp_path):
    p = run_cli("metrics", str(tmp_path))
    assert p.returncode == 2 and "Traceback" not in p.stderr
    assert p.stderr.splitlines() == [
        f"nst: error: {str(tmp_path)!r}: not a run folder (config.json) or a sweep folder (sweep.yaml)"
    ]
