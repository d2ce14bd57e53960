"""The notebooks: committed clean, generated reproducibly, parameters in step with Config, and each one
executes under papermill at a tiny size; plus the explorer widget driven directly (upload shapes, Run, Stop)."""

from __future__ import annotations

import ast
import dataclasses
import datetime
import json
import shutil
import subprocess
import sys
import time
from pathlib import Path

import nbformat
import pytest

from nstlib.config import Config, ConfigError, field_types

from conftest import ROOT

papermill = pytest.importorskip("papermill")
ipywidgets = pytest.importorskip("ipywidgets")

NOTEBOOKS = ROOT / "notebooks"
NAMES = ["style_transfer", "sweep", "reconstructions", "explore", "figures", "controls", "video"]
EXTRAKEYS = "metadata.papermill cell.metadata.papermill metadata.colab.provenance"
TINY = {"image_size": 32, "epochs": 2, "progress": "text"}


def execute(name: str, tmp_path: Path, **parameters) -> nbformat.NotebookNode:
    """Run notebooks/<name>.ipynb under papermill in `tmp_path`; a cell error fails the test with its traceback."""
    out = tmp_path / f"{name}.out.ipynb"
    papermill.execute_notebook(
        str(NOTEBOOKS / f"{name}.ipynb"),
        str(out),
        kernel_name="python3",
        parameters=parameters,
        cwd=str(tmp_path),
        progress_bar=False,
    )
    return nbformat.read(out, as_version=4)


def outputs(nb: nbformat.NotebookNode) -> tuple[str, list[str]]:
    """(all text printed, the mime types displayed) of an executed notebook."""
    text, mimes = [], []
    for cell in nb.cells:
        for o in cell.get("outputs", []):
            text.append(o.get("text", ""))
            mimes += list(o.get("data", {}))
    return "".join(text), mimes


def parameters_cell(name: str) -> nbformat.NotebookNode:
    nb = nbformat.read(NOTEBOOKS / f"{name}.ipynb", as_version=4)
    cells = [c for c in nb.cells if "parameters" in c.metadata.get("tags", [])]
    assert len(cells) == 1, f"{name}: expected one cell tagged parameters"
    return cells[0]


# ---- committed notebooks -----------------------------------------------------------------------------
def test_every_notebook_is_committed_clean():
    found = sorted(p.stem for p in NOTEBOOKS.glob("*.ipynb"))
    assert found == sorted(NAMES)
    for name in NAMES:
        nb = nbformat.read(NOTEBOOKS / f"{name}.ipynb", as_version=4)
        nbformat.validate(nb)
        assert nb.metadata.kernelspec.name == "python3"
        assert "papermill" not in nb.metadata
        for cell in nb.cells:
            if cell.cell_type == "code":
                assert cell.outputs == [], f"{name}: a code cell has outputs"
                assert cell.execution_count is None, f"{name}: a code cell has an execution count"
                assert "papermill" not in cell.metadata and "execution" not in cell.metadata


def test_first_code_cell_installs_only_on_colab():
    for name in NAMES:
        nb = nbformat.read(NOTEBOOKS / f"{name}.ipynb", as_version=4)
        first = next(c for c in nb.cells if c.cell_type == "code")
        tree = ast.parse(first.source)
        assert any(isinstance(n, ast.Assign) and n.targets[0].id == "REPO_URL" for n in tree.body)
        # every pip/git call sits under `if "google.colab" in sys.modules:`
        guarded = [n for n in tree.body if isinstance(n, ast.If) and "google.colab" in ast.unparse(n.test)]
        assert len(guarded) == 1
        outside = ast.unparse(ast.Module([n for n in tree.body if n not in guarded], []))
        assert "pip" not in outside and "subprocess.run" not in outside
        assert "pip" in ast.unparse(guarded[0]) and "nb.setup()" in first.source


def test_build_regenerates_identical_notebooks(tmp_path):
    subprocess.run(
        [sys.executable, str(NOTEBOOKS / "build.py"), "--out", str(tmp_path)], check=True, capture_output=True
    )
    assert sorted(p.name for p in tmp_path.glob("*.ipynb")) == sorted(f"{n}.ipynb" for n in NAMES)
    for name in NAMES:
        assert (tmp_path / f"{name}.ipynb").read_bytes() == (NOTEBOOKS / f"{name}.ipynb").read_bytes(), (
            f"{name}.ipynb is stale: run `make notebooks`"
        )
    check = subprocess.run([sys.executable, str(NOTEBOOKS / "build.py"), "--check"], capture_output=True, text=True)
    assert check.returncode == 0, check.stderr


def test_nbstripout_filter_leaves_committed_notebooks_unchanged():
    pytest.importorskip("nbstripout")
    for name in NAMES:
        path = NOTEBOOKS / f"{name}.ipynb"
        out = subprocess.run(
            [sys.executable, "-m", "nbstripout", "--extra-keys", EXTRAKEYS, "-t"],
            stdin=path.open("rb"),
            capture_output=True,
            check=True,
        )
        assert out.stdout == path.read_bytes(), f"{name}: `git add` through nbstripout would change it"


def test_makefile_nbstripout_target(tmp_path):
    if shutil.which("make") is None:
        pytest.skip("make is not installed")
    shutil.copy(ROOT / "Makefile", tmp_path / "Makefile")
    subprocess.run(["git", "init", "-q"], cwd=tmp_path, check=True)
    for _ in range(2):  # idempotent
        subprocess.run(["make", "-s", "nbstripout"], cwd=tmp_path, check=True, capture_output=True)
    assert (tmp_path / ".gitattributes").read_text().splitlines().count("*.ipynb filter=nbstripout") == 1

    def config(key: str) -> str:
        return subprocess.run(["git", "config", key], cwd=tmp_path, capture_output=True, text=True).stdout.strip()

    assert config("filter.nbstripout.extrakeys") == EXTRAKEYS
    assert "nbstripout" in config("filter.nbstripout.clean")


# ---- the parameters cell and Config ---------------------------------------------------------------------
def expected_annotation(kind) -> str:
    return str(kind).replace("typing.", "") if not isinstance(kind, type) else kind.__name__


def test_style_transfer_parameters_match_config():
    tree = ast.parse(parameters_cell("style_transfer").source)
    found = {n.target.id: n for n in tree.body if isinstance(n, ast.AnnAssign)}
    names = [f.name for f in dataclasses.fields(Config)]
    assert list(found) == names + ["run_dir"], "parameters cell and Config list different fields (make notebooks)"
    types = field_types()
    for f in dataclasses.fields(Config):
        node = found[f.name]
        default = f.default_factory() if f.default_factory is not dataclasses.MISSING else f.default
        value = ast.literal_eval(node.value)
        assert value == default and type(value) is type(default), f"{f.name}: default {value!r} != {default!r}"
        assert ast.unparse(node.annotation) == expected_annotation(types[f.name]), f.name
    assert ast.literal_eval(found["run_dir"].value) == "" and ast.unparse(found["run_dir"].annotation) == "str"
    # each line carries Config's help as its comment (what papermill --help-notebook shows)
    lines = {line.split(":")[0]: line for line in parameters_cell("style_transfer").source.splitlines()}
    assert lines["style_weight"] == "style_weight: float = 1000.0  # beta, weight of the style loss"
    for f in dataclasses.fields(Config):
        assert "  # " in lines[f.name] and lines[f.name].count("=") == 1, f"{f.name}: papermill cannot parse it"


def test_papermill_help_notebook_shows_types_defaults_and_help():
    out = subprocess.run(
        [sys.executable, "-m", "papermill", "--help-notebook", str(NOTEBOOKS / "style_transfer.ipynb")],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    assert "style_weight: float (default 1000.0)" in out and "beta, weight of the style loss" in out
    assert "style_layer_weights: Union[list[float], str] (default 'uniform')" in out
    assert "Unknown type" not in out
    for f in dataclasses.fields(Config):
        assert f"  {f.name}: " in out, f.name


def test_config_from_parameters_parses_papermill_strings(tmp_path):
    from nstlib.ui.notebook import config_from_parameters

    ns = {
        "style_weight": "1e4",
        "sizes": "32,64",
        "style": "a b.jpg",
        "video": "false",
        "epochs": 3.0,
        "style_layers": ["relu1_1"],
        "style_layer_weights": "uniform",
        "unrelated": object(),
        "run_dir": "",
    }
    c = config_from_parameters(ns)
    assert (c.style_weight, c.sizes, c.style, c.video, c.epochs) == (1e4, [32, 64], ["a b.jpg"], False, 3)
    assert c.style_layers == ["relu1_1"] and c.image_size == Config().image_size


def parameter_names(name: str) -> list[str]:
    """The variables the parameters cell assigns, as Python reads it."""
    tree = ast.parse(parameters_cell(name).source)
    return [
        n.target.id if isinstance(n, ast.AnnAssign) else n.targets[0].id
        for n in tree.body
        if isinstance(n, (ast.AnnAssign, ast.Assign))
    ]


@pytest.mark.parametrize("name", NAMES)
def test_papermill_finds_every_parameter_typed_and_helped(name, caplog):
    caplog.set_level("WARNING", logger="papermill")
    found = papermill.inspect_notebook(str(NOTEBOOKS / f"{name}.ipynb"))
    assert "Unable to parse" not in caplog.text  # papermill skips such a line: no -p, no --help-notebook
    assert list(found) == parameter_names(name), f"{name}: papermill misses parameters"
    for p in found.values():
        assert p["inferred_type_name"] != "None", f"{name}.{p['name']}: no type papermill understands"
        assert p["help"], f"{name}.{p['name']}: no help"


def prepared(name: str, tmp_path: Path, *options: str) -> dict:
    """The parameters a notebook's code sees after `papermill NAME OUT OPTIONS` (parameterised, not executed)."""
    from click.testing import CliRunner
    from papermill.cli import papermill as cli

    out = tmp_path / f"{name}.prepared.ipynb"
    result = CliRunner().invoke(
        cli,
        [str(NOTEBOOKS / f"{name}.ipynb"), str(out), "--prepare-only", "-k", "python3", *options],
        catch_exceptions=False,
    )
    assert result.exit_code == 0, result.output
    namespace: dict = {}
    for cell in nbformat.read(out, as_version=4).cells:
        if {"parameters", "injected-parameters"} & set(cell.metadata.get("tags", [])):
            exec(cell.source, namespace)
    return namespace


def test_papermill_p_strings_reach_config(tmp_path):
    from nstlib.ui.notebook import config_from_parameters

    ns = prepared(
        "style_transfer",
        tmp_path,
        "-p",
        "style_layers",
        "relu1_1,relu2_1",
        "-p",
        "style",
        "a,b.jpg",
        "-p",
        "style_layer_weights",
        "1,2",
        "-p",
        "style_weight",
        "1e4",
        "-p",
        "epochs",
        "15",
        "-p",
        "lr",
        "1",
        # -p makes numbers of these; the fields are lists, a name and a bool
        "-p",
        "sizes",
        "32",
        "-p",
        "level_epochs",
        "7",
        "-p",
        "style_blend_weights",
        "2",
        "-p",
        "content_layer_weights",
        "0.5",
        "-p",
        "name",
        "2024",
        "-p",
        "video",
        "0",
    )
    c = config_from_parameters(ns)
    assert (c.style_layers, c.sizes, c.level_epochs) == (["relu1_1", "relu2_1"], [32], [7])
    assert (c.style_blend_weights, c.content_layer_weights) == ([2.0], [0.5])
    assert (c.style, c.style_layer_weights, c.name, c.video) == (["a,b.jpg"], [1.0, 2.0], "2024", False)
    assert (c.style_weight, c.epochs, c.lr) == (1e4, 15, 1.0)
    assert (
        config_from_parameters(
            prepared("style_transfer", tmp_path, "-p", "style_layer_weights", "inverse_channels")
        ).style_layer_weights
        == "inverse_channels"
    )


@pytest.mark.parametrize(
    "options",
    [
        ["-p", "overrides", "image_size=48; epochs=15;style_layers=relu1_1,relu2_1;"],
        ["-y", "overrides: [image_size=48, epochs=15, 'style_layers=relu1_1,relu2_1']"],  # what -f params.yaml gives
    ],
)
def test_sweep_overrides_reach_every_point(options, tmp_path):
    from nstlib.ui.notebook import overrides_list, project_path
    from nstlib.sweep import load_sweep

    ns = prepared("sweep", tmp_path, *options)
    spec = load_sweep(project_path(ns["sweep_file"]), overrides_list(ns["overrides"]))
    assert len(spec.points) > 1
    for point in spec.points:
        c = point.config
        assert (c.image_size, c.epochs, c.style_layers) == (48, 15, ["relu1_1", "relu2_1"]), point.label


@pytest.mark.parametrize(
    "name, options, expected",
    [
        (
            "reconstructions",
            ["-p", "image_size", "48", "-p", "content", "a,b.jpg"],
            {"image_size": 48, "content": "a,b.jpg"},
        ),
        ("explore", ["-p", "epochs", "15", "-p", "image_size", "100"], {"epochs": 15, "image_size": 100}),
        (
            "figures",
            ["-p", "folder", "runs/x", "-p", "runs_dir", "elsewhere"],
            {"folder": "runs/x", "runs_dir": "elsewhere"},
        ),
    ],
)
def test_papermill_p_values_of_the_other_notebooks(name, options, expected, tmp_path):
    ns = prepared(name, tmp_path, *options)
    assert {k: ns[k] for k in expected} == expected


def test_a_parameter_the_notebook_lacks_is_refused_before_any_work(tmp_path):
    """papermill only warns about `-p style_wieght 1e4`; the notebook refuses it before any model work."""
    with pytest.raises(papermill.PapermillExecutionError) as e:
        execute("style_transfer", tmp_path, style_wieght=1e4, foo=1, runs_dir=str(tmp_path / "runs"), **TINY)
    assert e.value.ename == "ConfigError"
    assert e.value.evalue == (
        "style_transfer.ipynb: unknown parameters 'style_wieght' (did you mean style_weight?), 'foo'; "
        "papermill --help-notebook style_transfer.ipynb lists its parameters"
    )
    assert not (tmp_path / "runs").exists()


def test_check_parameters_knows_the_typed_names_and_runs_once():
    from nstlib.ui.notebook import check_parameters, parameters_begin

    namespace: dict = {"nb": object()}
    parameters_begin(namespace)
    exec("from typing import Union\nimage_size: int = 256\nepochs: int = 100", namespace)  # the parameters cell
    exec("epochs = 5", namespace)  # papermill's injected cell, for a known name
    check_parameters(namespace, "x.ipynb")
    namespace["folder"] = "made by a later cell"
    check_parameters(namespace, "x.ipynb")  # a rerun of that cell: no new parameters cell, nothing to check
    parameters_begin(namespace)
    exec("image_size: int = 256\nepochs: int = 100\nimage_sise = 64", namespace)
    with pytest.raises(ConfigError, match=r"x.ipynb: unknown parameter 'image_sise' \(did you mean image_size\?\);"):
        check_parameters(namespace, "x.ipynb")


def test_reconstruction_plan_is_figure_1():
    from nstlib.ui.reconstructions import reconstruction_configs

    plan = reconstruction_configs(image_size=32, epochs=2)
    content, style = [p for p in plan if p.row == "content"], [p for p in plan if p.row == "style"]
    assert [p.config.content_layers for p in content] == [[f"relu{b}_2"] for b in range(1, 6)]
    assert all(p.config.style_weight == 0 and p.config.init == "noise" for p in content)
    assert [p.config.style_layers for p in style] == [[f"relu{b}_1" for b in range(1, n + 1)] for n in range(1, 6)]
    assert all(p.config.content_weight == 0 and p.config.init == "noise" for p in style)
    assert style[1].label == "relu1_1 + relu2_1" and style[4].label == "relu1_1 … relu5_1"


# ---- executing the notebooks ------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def run_folder(tmp_path_factory, original_weights):
    """style_transfer.ipynb once, writing into a given run_dir (as the sweep's papermill engine does)."""
    tmp = tmp_path_factory.mktemp("style_transfer")
    folder = tmp / "runs" / "given"
    nb = execute(
        "style_transfer",
        tmp,
        runs_dir=str(tmp / "elsewhere"),
        run_dir=str(folder),
        save_every=1,
        style_weight=1e4,
        **TINY,
    )
    return tmp, folder, nb


def test_style_transfer_notebook_writes_a_run_folder(run_folder):
    tmp, folder, nb = run_folder
    assert not (tmp / "elsewhere").exists()  # run_dir wins over runs_dir
    for name in ("config.json", "losses.csv", "final.png", "panel.png", "progress.mp4", "preview.webp"):
        assert (folder / name).is_file(), name
    info = json.loads((folder / "config.json").read_text())
    assert info["status"] == "done" and info["config"]["style_weight"] == 1e4 and info["config"]["image_size"] == 32
    text, mimes = outputs(nb)
    assert f"done: {folder}" in text and "step 2/2" in text  # progress "text": lines, not a frozen bar
    assert mimes.count("image/png") == 2 and "text/html" in mimes  # panel, loss curves, the embedded video
    video = [o for c in nb.cells for o in c.get("outputs", []) if "text/html" in o.get("data", {})]
    assert "data:video/mp4;base64," in video[-1]["data"]["text/html"]


def test_figures_notebook_for_a_run_folder(run_folder):
    tmp, folder, _ = run_folder
    nb = execute("figures", tmp, runs_dir=str(tmp / "runs"))  # folder "": the newest one
    written = sorted(p.name for p in (folder / "figures").iterdir())
    assert written == ["loss_curves.pdf", "loss_curves.png", "panel.pdf", "panel.png"]
    assert (folder / "figures/panel.pdf").read_bytes().startswith(b"%PDF")
    assert outputs(nb)[1].count("image/png") == 2


def test_sweep_and_figures_notebooks(tmp_path):
    nb = execute(
        "sweep",
        tmp_path,
        sweep_file=str(ROOT / "sweeps/style_weight.yaml"),
        overrides=["image_size=32", "epochs=2", f"runs_dir={tmp_path / 'runs'}", "save_every=0"],
    )
    (folder,) = (tmp_path / "runs").iterdir()
    assert (folder / "index.csv").is_file() and (folder / "figures/grid.png").is_file()
    text, mimes = outputs(nb)
    assert str(folder) in text and "image/png" in mimes and "text/html" in mimes  # the grid, index.csv
    shutil.rmtree(folder / "figures")
    execute("figures", tmp_path, folder=str(folder))
    assert sorted(p.name for p in (folder / "figures").iterdir()) == [
        "grid.pdf",
        "grid.png",
        "tradeoff.pdf",
        "tradeoff.png",
    ]
    assert (folder / "tradeoff.png").is_file()  # the sweep writes its own


def test_reconstructions_notebook_saves_figure_1(tmp_path, original_weights):
    execute("reconstructions", tmp_path, runs_dir=str(tmp_path / "runs"), **TINY)
    (folder,) = (tmp_path / "runs").iterdir()
    assert folder.name.endswith("_reconstructions")
    assert (folder / "figure1.png").is_file() and (folder / "figure1.pdf").read_bytes().startswith(b"%PDF")
    runs = [p for p in folder.iterdir() if p.is_dir()]
    assert len(runs) == 10 and all(json.loads((p / "config.json").read_text())["status"] == "done" for p in runs)


def test_explore_notebook_builds_the_ui(tmp_path):
    nb = execute("explore", tmp_path, runs_dir=str(tmp_path / "runs"), image_size=64, epochs=3)
    assert "application/vnd.jupyter.widget-view+json" in outputs(nb)[1]


# ---- the explorer, driven directly ---------------------------------------------------------------------
PNG = b"\x89PNG\r\n\x1a\n"


def is_png(value) -> bool:
    return bytes(value).startswith(PNG)  # ipywidgets 8 keeps Image.value as a memoryview


def png_file_bytes(seed: int = 0) -> bytes:
    import io

    import numpy as np
    from PIL import Image

    arr = (np.random.default_rng(seed).random((24, 32, 3)) * 255).astype(np.uint8)
    buffer = io.BytesIO()
    Image.fromarray(arr).save(buffer, format="PNG")
    return buffer.getvalue()


def test_uploaded_files_reads_ipywidgets_7_and_8_shapes():
    from nstlib.ui.widgets import uploaded_files

    data = png_file_bytes()
    v8 = (
        {
            "name": "cat.png",
            "type": "image/png",
            "size": len(data),
            "content": memoryview(data),
            "last_modified": datetime.datetime(2024, 1, 1),
        },
    )
    v7 = {
        "cat.png": {
            "metadata": {"name": "cat.png", "type": "image/png", "size": len(data), "lastModified": 1704067200000},
            "content": data,
        }
    }
    assert uploaded_files(v8) == uploaded_files(v7) == [("cat.png", data)]
    assert uploaded_files(()) == uploaded_files({}) == uploaded_files(None) == []


@pytest.fixture
def explorer(tmp_path, original_weights):
    from nstlib.ui.widgets import Explorer

    return Explorer(
        runs_dir=str(tmp_path / "runs"),
        image_size=32,
        epochs=3,
        refresh_every=1,
        device="cpu",
        precision="fp32",
        save_every=0,
    )


def test_explorer_choose_upload_set_and_run(explorer, tmp_path):
    ex = explorer
    assert ex.content.value and ex.style.value and is_png(ex.content_thumb.value)
    labels = [label for label, _ in ex.style.options]
    ex.style.value = dict(ex.style.options)[labels[-1]]  # choose a bundled style
    thumb = bytes(ex.style_thumb.value)
    assert is_png(thumb)
    data = png_file_bytes(1)  # upload a content image (the ipywidgets 8 shape)
    ex.content_upload.value = (
        {
            "name": "my photo.png",
            "type": "image/png",
            "size": len(data),
            "content": memoryview(data),
            "last_modified": datetime.datetime(2024, 1, 1),
        },
    )
    assert ex.content.value.startswith(str(tmp_path / "runs" / "uploads"))
    assert Path(ex.content.value).read_bytes() == data and "my photo (uploaded)" in dict(ex.content.options)
    ex.style_upload.value = (
        {
            "name": "bad.png",
            "type": "image/png",
            "size": 3,
            "content": memoryview(b"abc"),
            "last_modified": datetime.datetime(2024, 1, 1),
        },
    )
    assert "upload refused" in ex.status.value and bytes(ex.style_thumb.value) == thumb

    ex.params["style_weight"].value = 1e4
    ex.params["optimizer"].value = "adam"
    ex.params["preserve_color"].value = "luminance"
    ex.params["epochs"].value = 3
    assert ex.config().style_weight == 1e4 and ex.config().optimizer == "adam"
    ex.run_button.click()
    assert ex.run_button.disabled and not ex.stop_button.disabled
    result = ex.wait(120)
    assert ex.error is None and result is not None and result.status == "done", ex.status.value
    assert is_png(ex.preview.value) and is_png(ex.loss_plot.value)
    assert 'download="' in ex.download.value and "data:image/png;base64," in ex.download.value
    assert ex.progress.value == 3 and "done" in ex.status.value
    assert not ex.run_button.disabled and ex.stop_button.disabled
    content = json.loads((result.run_dir / "metrics.json").read_text())["content_distance"]
    assert f"metrics: content {content:.3g} · " in ex.status.value.replace("&middot;", "·")  # the scores, one line
    info = json.loads((result.run_dir / "config.json").read_text())
    assert info["config"]["content"] == ex.content.value and info["config"]["preserve_color"] == "luminance"


def test_explorer_stop_keeps_what_was_made(explorer):
    ex = explorer
    ex.params["epochs"].value = 1000
    ex.run()
    deadline = time.time() + 120
    while ex.progress.value < 2 and ex.running and time.time() < deadline:
        time.sleep(0.02)
    ex.stop_button.click()
    result = ex.wait(120)
    assert not ex.running and result is not None, ex.status.value
    assert result.status == "interrupted" and "interrupted" in ex.status.value
    assert 2 <= ex.progress.value < 1000
    assert is_png(ex.preview.value) and "data:image/png;base64," in ex.download.value
    assert json.loads((result.run_dir / "config.json").read_text())["status"] == "interrupted"


def test_explorer_reports_a_bad_parameter_without_running(explorer):
    explorer.params["image_size"].value = 32
    explorer.extra["content_layers"] = ["relu9_9"]
    explorer.run()
    assert explorer.thread is None and "bad parameter" in explorer.status.value


def test_explorer_numeric_widgets_take_any_typed_value(tmp_path):
    from nstlib.ui.widgets import Explorer

    ex = Explorer(runs_dir=str(tmp_path / "runs"), image_size=32, epochs=3)
    for name, widget in ex.params.items():
        # the browser snaps a typed value to min + k·step: ints step by 1, floats are text boxes (no step)
        if isinstance(widget, ipywidgets.IntSlider):
            assert widget.step == 1, name
        elif isinstance(widget.value, float):
            assert isinstance(widget, ipywidgets.BoundedFloatText) and widget.step is None, name
    ex.params["epochs"].value = 15
    ex.params["image_size"].value = 100
    ex.params["style_weight"].value = 5000.0
    c = ex.config()
    assert (c.epochs, c.image_size, c.style_weight) == (15, 100, 5000.0)
    ex.params["image_size"].value = 16  # Config's minimum
    assert ex.config().image_size == 16
    # initial values beyond the usual range (explore.ipynb's -p epochs 2000) are kept, not clamped
    big = Explorer(runs_dir=str(tmp_path / "runs"), image_size=2048, epochs=2000).config()
    assert (big.image_size, big.epochs) == (2048, 2000)


def test_explorer_images_keep_their_aspect_ratio(tmp_path):
    from nstlib.ui.widgets import Explorer

    ex = Explorer(runs_dir=str(tmp_path / "runs"), image_size=32, epochs=3)
    row = next(b for b in ex.ui.children[2].children if ex.preview in getattr(b, "children", ()))
    assert ex.loss_plot in row.children  # beside the (taller) loss plot, in a flex row
    for image in (ex.preview, ex.loss_plot, ex.content_thumb, ex.style_thumb):
        # not stretched across the flex box to its tallest item; no fixed height
        assert image.layout.align_self == "flex-start" and image.layout.height in (None, "auto")
        assert not image.height  # ipywidgets' own height attribute would also distort it


def test_loss_plot_is_figures_loss_curves_without_pyplot(monkeypatch):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from nstlib.record import figures
    from nstlib.ui.widgets import loss_plot_png

    rows = [{"epoch": i, "total": 3.0 / i, "content": 1.0 / i, "style": 2.0 / i, "tv": 0.0} for i in range(1, 6)]
    drawn = []
    real = figures.loss_curves
    monkeypatch.setattr(figures, "loss_curves", lambda *a, **k: drawn.append(k) or real(*a, **k))
    before = plt.get_fignums()
    assert is_png(loss_plot_png(rows))
    assert drawn and drawn[0]["pyplot"] is False and "tv" in drawn[0]["columns"]
    assert plt.get_fignums() == before  # nothing left open in pyplot (it runs in the explorer's thread)
