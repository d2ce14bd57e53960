"""Generate the notebooks in this folder (run `make notebooks` or `python notebooks/build.py`).

The notebooks are written from here so they stay reproducible and small, and so that
style_transfer.ipynb's `parameters` cell is generated from `nstlib.Config`: one annotated line per
field with its default and help, which `papermill --help-notebook` shows. Output has no outputs and
no execution counts, and is byte-identical from run to run (`--check` verifies the committed files).
"""

from __future__ import annotations

import argparse
import dataclasses
import sys
import typing
from pathlib import Path

import nbformat
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))

from nstlib.config import Config, field_default, field_types  # noqa: E402
from nstlib.videoconfig import VideoConfig  # noqa: E402

REPO = "nst-lab/nst-lab"
COLAB = f"https://colab.research.google.com/github/{REPO}/blob/main/notebooks"
BADGE = "https://colab.research.google.com/assets/colab-badge.svg"

SETUP = f"""\
# Setup. On Colab only: fetch NST Lab and install it (elsewhere, nothing is installed).
import os, subprocess, sys

REPO_URL = "https://github.com/{REPO}"
if "google.colab" in sys.modules:
    if not os.path.isdir("/content/nst-lab"):
        subprocess.run(["git", "clone", "--depth", "1", REPO_URL, "/content/nst-lab"], check=True)
    subprocess.run([sys.executable, "-m", "pip", "install", "-q", "/content/nst-lab"], check=True)
    os.chdir("/content/nst-lab")  # the bundled collections/ and runs/ are relative paths

import nstlib
import nstlib.ui.notebook as nb

nb.setup();  # device "auto": the GPU if there is one (Colab: Runtime > Change runtime type > T4 GPU)
nb.parameters_begin(globals())  # so the cell after the parameters can refuse a parameter this notebook lacks"""


# ---- the parameters cell generated from Config ------------------------------------------------------
def type_text(kind: typing.Any) -> str:
    """`list[str]`, `float`, `Union[list[float], str]`: what papermill's parameter parser accepts."""
    if isinstance(kind, type) and not typing.get_args(kind):
        return kind.__name__
    origin, args = typing.get_origin(kind), typing.get_args(kind)
    name = "Union" if origin is typing.Union else origin.__name__
    return f"{name}[{', '.join(type_text(a) for a in args)}]"


def help_text(f: dataclasses.Field) -> str:
    """Config's help on one line; '=' is avoided (papermill skips a line with two '=')."""
    text = f.metadata["help"]
    choices = f.metadata.get("choices") or ()
    if choices and not all(c in text for c in choices):
        text += f" ({' | '.join(choices)})"
    return " ".join(text.replace(" = ", ": ").replace("=", ":").split())


def parameters_source() -> str:
    types = field_types()
    lines = [
        "# Parameters: generated from nstlib.Config by notebooks/build.py (do not edit here).",
        "# papermill: -p name value; see `papermill --help-notebook notebooks/style_transfer.ipynb`.",
    ]
    if any("Union" in type_text(t) for t in types.values()):
        lines.append("from typing import Union")
        lines.append("")
    for f in dataclasses.fields(Config):
        default = field_default(f)
        lines.append(f"{f.name}: {type_text(types[f.name])} = {default!r}  # {help_text(f)}")
    lines.append('run_dir: str = ""  # existing folder to write into; empty: a new runs/<time>_<name>')
    return "\n".join(lines)


def parameters_cell(source: str):
    return new_code_cell(source, metadata={"tags": ["parameters"]})


# ---- the notebooks ------------------------------------------------------------------------------------
def title(name: str, heading: str, text: str):
    return new_markdown_cell(f"[![Open In Colab]({BADGE})]({COLAB}/{name}.ipynb)\n\n# {heading}\n\n{text}")


def style_transfer():
    return [
        title(
            "style_transfer",
            "Neural style transfer: one experiment",
            "Gatys, Ecker & Bethge, *Image Style Transfer Using Convolutional Neural Networks* (CVPR 2016). "
            "Set the parameters below (every `nstlib.Config` field), run all cells. The run folder keeps "
            "`config.json`, `losses.csv`, `final.png`, `frames/`, `progress.mp4` and `panel.png`.\n\n"
            "From the command line: `papermill notebooks/style_transfer.ipynb out.ipynb -k python3 "
            "-p style_weight 1e4 -p style_layers relu1_1,relu2_1 -p progress text`: list parameters take "
            "comma-separated values (`style`, a path, takes one; several styles go in a YAML file passed "
            "with `-f`).",
        ),
        new_code_cell(SETUP),
        parameters_cell(parameters_source()),
        new_code_cell(
            "config = nb.config_from_parameters(globals())\n"
            "result = nstlib.transfer(config, run_dir=run_dir or None)\n"
            'print(f"{result.status}: {result.run_dir}" + (f" ({result.reason})" if result.reason else ""))'
        ),
        new_markdown_cell("## Content | style | result"),
        new_code_cell("nb.show_result(result)"),
        new_markdown_cell("## Losses and progress"),
        new_code_cell(
            'nb.show_losses(result.history, title=result.run_dir.name)\nnb.show_video(result.run_dir / "progress.mp4")'
        ),
    ]


def sweep():
    return [
        title(
            "sweep",
            "A parameter sweep",
            "Runs a sweep file from `sweeps/` (compatible points share one batch through VGG) and shows "
            "the grid figure and the sweep's `index.csv`. `resume` continues an interrupted sweep folder.\n\n"
            "`overrides` sets parameters for every point, as `nst sweep --set` does: `name=value` settings "
            "separated by `;` (a list value keeps its commas), e.g. "
            "`image_size=64;epochs=50;style_layers=relu1_1,relu2_1`, or a list of `name=value` strings. "
            "From the command line: `papermill notebooks/sweep.ipynb out.ipynb -k python3 "
            '-p overrides "image_size=64;epochs=50"`, or the list in a YAML file passed with `-f`.',
        ),
        new_code_cell(SETUP),
        parameters_cell(
            "from typing import Union\n\n"
            'sweep_file: str = "sweeps/style_weight.yaml"  # a sweep file (YAML)\n'
            'overrides: Union[str, list[str]] = ""  # parameters for every point, as nst sweep --set '
            "takes them, separated by ';' (or a YAML list)\n"
            'engine: str = "inprocess"  # inprocess (batched through VGG), papermill or dask\n'
            'resume: str = ""  # a sweep folder to continue; empty: a new sweep\n'
            "rerun_changed: bool = False  # with resume: also rerun done points whose recorded config differs "
            "from the folder's sweep.yaml"
        ),
        new_code_cell(
            "outcome = nstlib.sweep(None if resume else nb.project_path(sweep_file), "
            "set=nb.overrides_list(overrides),\n"
            "                       engine=engine, resume=resume or None, rerun_changed=rerun_changed)\n"
            "folder = outcome.folder\n"
            "print(folder)"
        ),
        new_code_cell('nb.presentation_figures(folder)\nnb.show_table(folder / "index.csv")'),
    ]


def reconstructions():
    return [
        title(
            "reconstructions",
            "Figure 1: what VGG-19 layers keep of content and style",
            "Images reconstructed from white noise. Top row: from the content features of one layer "
            "(relu1_2 … relu5_2; style weight 0): low layers keep the exact pixels, high layers keep the "
            "objects and their arrangement. Bottom row: from the style features (Gram matrices) of growing "
            "layer sets {relu1_1}, {relu1_1, relu2_1}, … (content weight 0): the texture grows in scale. "
            "The figure is saved as `figure1.png` and `figure1.pdf` in a new `runs/<time>_reconstructions/`, "
            "beside the ten run folders. Ten runs of `epochs` steps: on a CPU, try `image_size` 128.",
        ),
        new_code_cell(SETUP),
        parameters_cell(
            "image_size: int = 256  # longest side in pixels (the paper: 512)\n"
            "epochs: int = 200  # L-BFGS steps per reconstruction\n"
            'content: str = "collections/content/chelsea.jpg"  # the photograph\n'
            'style: str = "collections/style/starry_swirls.jpg"  # the artwork\n'
            'runs_dir: str = ""  # gets a new <time>_reconstructions/ sub-folder; empty: the checkout\'s runs/\n'
            'progress: str = "auto"  # auto (bars), text (lines, for papermill) or none'
        ),
        new_code_cell(
            "from nstlib.ui.reconstructions import reconstructions\n\n"
            "folder = reconstructions(content, style, image_size, epochs, runs_dir, progress=progress)"
        ),
    ]


def explore():
    return [
        title(
            "explore",
            "Explore style transfer interactively",
            "Choose a bundled image or upload your own, set the parameters, press **Run**; the preview and "
            "the loss plot update while it runs, **Stop** keeps what was made, and the result comes with a "
            "download link. Every run also writes a run folder in `runs/`.",
        ),
        new_code_cell(SETUP),
        parameters_cell(
            "image_size: int = 256  # initial value of the image_size slider\n"
            "epochs: int = 100  # initial value of the epochs slider\n"
            'runs_dir: str = ""  # where run folders (and uploads/) go; empty: the checkout\'s runs/'
        ),
        new_code_cell(
            "from nstlib.ui.widgets import Explorer\n\n"
            "explorer = Explorer(runs_dir=runs_dir, image_size=image_size, epochs=epochs).show()"
        ),
    ]


def figures():
    return [
        title(
            "figures",
            "Presentation figures",
            "From a run folder: content | style | result and the loss curves. From a sweep folder: the grid "
            "over its one or two axes and the trade-off view (content distance against style distance, one "
            "marker per point, the Pareto front as a step line; docs/metrics.md). Saved as PNG and PDF into the "
            "folder's `figures/`.",
        ),
        new_code_cell(SETUP),
        parameters_cell(
            'folder: str = ""  # a run or sweep folder; empty: the newest one in runs_dir\n'
            'runs_dir: str = ""  # where to look for the newest folder; empty: the checkout\'s runs/'
        ),
        new_code_cell("files = nb.presentation_figures(folder, runs_dir)"),
    ]


def controls():
    return [
        title(
            "controls",
            "Control and style losses (Gatys et al. 2017)",
            "Two styles split left/right by a mask (simple vs inside propagation), scale control (one style's "
            "coarse layers with another's fine ones), colour control (luminance vs histogram) and one content × "
            "one style × every `style_loss`. Each figure is one batch, saved as PNG and PDF in a new "
            "`runs/<time>_controls/`. On a CPU keep `image_size` at 128.",
        ),
        new_code_cell(SETUP),
        parameters_cell(
            "image_size: int = 128  # longest side in pixels (the paper: 512)\n"
            "epochs: int = 100  # L-BFGS steps per run\n"
            'content: str = "collections/content/chelsea.jpg"  # the photograph\n'
            'style_a: str = "collections/style/starry_swirls.jpg"  # first style (left half, coarse scale)\n'
            'style_b: str = "collections/style/ink_mountains.jpg"  # second style (right half, fine scale)\n'
            'runs_dir: str = ""  # gets a new <time>_controls/ sub-folder; empty: the checkout\'s runs/\n'
            'progress: str = "auto"  # auto (bars), text (lines, for papermill) or none'
        ),
        new_code_cell(
            "from nstlib.ui.demos import controls\n\n"
            "folder = controls(content, [style_a, style_b], image_size, epochs, runs_dir, progress=progress)"
        ),
    ]


def video():
    return [
        title(
            "video",
            "Style transfer for videos (Ruder et al., GCPR 2016)",
            "Stylise a clip frame by frame; each frame starts from the previous one warped by the optical flow "
            "and a temporal loss keeps it there where the flow is certain. Writes a run folder with `frames/`, "
            "`video.mp4` and `compare.mp4`. On a CPU keep `image_size` small (the bundled clip is 144×96).",
        ),
        new_code_cell(SETUP),
        parameters_cell(
            'clip: str = "collections/video/chelsea_pan.mp4"  # a video file or a folder of frames\n'
            'style: str = "collections/style/starry_swirls.jpg"  # the style image\n'
            "image_size: int = 96  # longest side of every frame in pixels\n"
            "epochs: int = 60  # L-BFGS steps of the first frame\n"
            "later_epochs: int = 30  # L-BFGS steps of each later frame\n"
            f"temporal_weight: float = {VideoConfig().temporal_weight:g}  # 0: no temporal loss\n"
            'previous_frames: str = "1"  # e.g. "1,10,20": the long-term temporal loss\n'
            "passes: int = 1  # > 1: multi-pass (each pass's frames in batches)\n"
            'runs_dir: str = ""  # where the run folder goes; empty: the checkout\'s runs/'
        ),
        new_code_cell(
            "from nstlib.run.video_transfer import stylize_video\n\n"
            "record = stylize_video(input=clip, style=[style], image_size=image_size, epochs=epochs,\n"
            "                       later_epochs=later_epochs, temporal_weight=temporal_weight,\n"
            "                       previous_frames=previous_frames, passes=passes,\n"
            "                       **({'runs_dir': runs_dir} if runs_dir else {}))\n"
            "print(record.status, record.path, record.metrics)"
        ),
        new_code_cell('from IPython.display import Video\n\nVideo(str(record.path / "compare.mp4"), embed=True)'),
    ]


NOTEBOOKS = {
    "style_transfer": style_transfer,
    "sweep": sweep,
    "reconstructions": reconstructions,
    "explore": explore,
    "figures": figures,
    "controls": controls,
    "video": video,
}


def checked(name: str, cells: list) -> list:
    """`cells` with the first code after the parameters refusing names papermill injected that are no
    parameters of this notebook (papermill only warns, and the value would be ignored)."""
    after = next(i for i, c in enumerate(cells) if "parameters" in c.metadata.get("tags", [])) + 1
    code = next(c for c in cells[after:] if c.cell_type == "code")
    code.source = f'nb.check_parameters(globals(), "{name}.ipynb")\n' + code.source
    return cells


def build(name: str) -> str:
    notebook = new_notebook(cells=checked(name, NOTEBOOKS[name]()))
    for i, cell in enumerate(notebook.cells):
        cell.id = str(i)  # deterministic, and what nbstripout's filter renumbers ids to: a fixed point
        if cell.cell_type == "code":
            cell.outputs, cell.execution_count = [], None
    notebook.metadata = nbformat.from_dict(
        {
            "kernelspec": {"name": "python3", "display_name": "Python 3", "language": "python"},
            "language_info": {"name": "python"},
            "accelerator": "GPU",  # Colab opens it on a GPU runtime
            "colab": {"gpuType": "T4"},
        }
    )
    nbformat.validate(notebook)
    text = nbformat.writes(notebook)
    return text if text.endswith("\n") else text + "\n"  # as nbformat.write (and nbstripout) end a file


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=HERE, help="folder to write into [default: notebooks/]")
    parser.add_argument("--check", action="store_true", help="write nothing; exit 1 if a notebook is out of date")
    args = parser.parse_args(argv)
    stale = []
    for name in NOTEBOOKS:
        text = build(name)
        path = args.out / f"{name}.ipynb"
        if args.check:
            if not path.is_file() or path.read_text() != text:
                stale.append(path)
            continue
        path.parent.mkdir(parents=True, exist_ok=True)
        if not path.is_file() or path.read_text() != text:
            path.write_text(text)
            print(f"wrote {path}")
    if stale:
        print("out of date (run `make notebooks`): " + ", ".join(map(str, stale)), file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
