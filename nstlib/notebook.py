"""What the notebooks in notebooks/ call: parameters → Config, display helpers, figure export.

Figure 1 of the paper lives in reconstructions.py.

The notebooks stay thin (parameters, a few calls, display); everything they need lives here so it is
tested and shared. Display helpers render figures to PNG themselves, so they work with any
matplotlib backend, on Colab, in Jupyter and in papermill's saved outputs.
"""

from __future__ import annotations

import base64
import difflib
import io
import os
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from .config import (
    Config,
    ConfigError,
    field_types,
    fields_by_name,
    from_dict,
    parse_value,
)
from .paths import DEFAULT_RUNS_DIR
from .runs import is_run_folder as is_run_folder  # re-exported: notebooks ask which folder is a run

FIGURE_FORMATS = ("png", "pdf")


def in_colab() -> bool:
    return "google.colab" in sys.modules


# ---- setup and parameters ---------------------------------------------------------------------------
def setup() -> str:
    """Print the version, the device 'auto' resolves to and the precision; returns the device name."""
    from ._version import __version__
    from .device import resolve_device, resolve_precision

    device = resolve_device("auto")
    name = str(device)
    if device.type == "cuda":
        import torch

        name += f" ({torch.cuda.get_device_name(device)})"
    print(f"NST Lab {__version__}: device {name}, precision {resolve_precision('auto', device)}")
    if in_colab() and device.type != "cuda":
        print(
            "No GPU: choose Runtime > Change runtime type > T4 GPU, then run the notebook again "
            "(it works on the CPU too, slowly)."
        )
    return str(device)


INJECTABLE = (str, int, float, bool, list, dict, type(None))  # what papermill's -p, -y and -f can give
_BEFORE_PARAMETERS: dict[int, set[str]] = {}  # per namespace: the names defined before its parameters cell


def parameters_begin(namespace: Mapping[str, Any]) -> None:
    """Remember the names a notebook has before its parameters cell (the setup cell calls this last)."""
    _BEFORE_PARAMETERS[id(namespace)] = set(namespace)


def check_parameters(namespace: Mapping[str, Any], notebook: str) -> None:
    """Refuse in one line a name set since `parameters_begin` that is no parameter of `notebook`: what
    papermill's injected cell holds for `-p foo 1` (papermill only warns, and the value would be ignored).

    The parameters are the names the parameters cell declares with a type, as papermill reads them;
    papermill injects plain assignments of data (not, say, the cell's `from typing import Union`).
    Checked once per `parameters_begin`, so rerunning a later cell, after the notebook has made names of
    its own, does not refuse them."""
    before = _BEFORE_PARAMETERS.pop(id(namespace), None)
    if before is None:
        return
    known = set(namespace.get("__annotations__", {}))
    unknown = [
        n
        for n, value in namespace.items()
        if n not in before and n not in known and not n.startswith("_") and isinstance(value, INJECTABLE)
    ]
    if unknown:
        named = []
        for name in unknown:
            close = difflib.get_close_matches(name, sorted(known), n=1)
            named.append(repr(name) + (f" (did you mean {close[0]}?)" if close else ""))
        raise ConfigError(
            f"{notebook}: unknown parameter{'s' if len(unknown) > 1 else ''} {', '.join(named)}; "
            f"papermill --help-notebook {notebook} lists its parameters"
        )


def config_from_parameters(namespace: Mapping[str, Any], **overrides: Any) -> Config:
    """A validated Config from the Config-named variables of a notebook's namespace (e.g. `globals()`).

    Values papermill's `-p` made (text, or a number it guessed) are read as the CLI reads them: see
    `parameter_value`.
    """
    values = {}
    for name in fields_by_name():
        if name in overrides:
            values[name] = overrides[name]
        elif name in namespace:
            values[name] = parameter_value(name, namespace[name])
    return from_dict(values)


def parameter_value(name: str, value: Any) -> Any:
    """The value of Config field `name` from a notebook parameter set by papermill.

    `-p` turns text that looks like a number or True/False into one, so a field that is not a number
    (`-p sizes 128`, `-p name 2024`, `-p video 0`) gets its text back; text given to a non-string
    field is parsed as the CLI parses it (lists comma-separated: `-p style_layers relu1_1,relu2_1`).
    """
    kind = field_types()[name]
    if isinstance(value, (bool, int, float)) and kind not in (int, float):
        value = str(value)
    if isinstance(value, str) and kind is not str:
        value = parse_value(name, value)
    return value


# ---- display ----------------------------------------------------------------------------------------
def _display(obj: Any) -> None:
    from IPython.display import display

    display(obj)


def to_uint8(image: Any) -> np.ndarray:
    """A tensor (1×3×H×W or 3×H×W in [0, 1]), an H×W×3 array, a PIL image or an image path as uint8 H×W×3."""
    from .images import load_pil, tensor_to_uint8

    if isinstance(image, (str, os.PathLike)):
        return np.asarray(load_pil(str(image)))
    if hasattr(image, "detach"):
        return tensor_to_uint8(image)
    array = np.asarray(image)
    if array.dtype != np.uint8:
        array = (np.clip(array, 0, 1) * 255).round().astype(np.uint8)
    return array


def png_bytes(image: Any) -> bytes:
    """PNG bytes of an image (anything `to_uint8` takes) or of a matplotlib figure (which is closed)."""
    buffer = io.BytesIO()
    if hasattr(image, "savefig"):
        image.savefig(buffer, format="png", dpi=100, bbox_inches="tight")
        _close(image)
    else:
        from PIL import Image

        Image.fromarray(to_uint8(image)).save(buffer, format="PNG")
    return buffer.getvalue()


def _close(fig: Any) -> None:
    if "matplotlib.pyplot" in sys.modules:
        sys.modules["matplotlib.pyplot"].close(fig)


def show_image(image: Any) -> None:
    """Display an image or a matplotlib figure inline as PNG."""
    from IPython.display import Image as IPImage

    _display(IPImage(data=png_bytes(image), format="png"))


def show_result(result: Any) -> None:
    """content | style | result panel of a finished run (a Result or a run folder)."""
    show_image(run_panel(result.run_dir if hasattr(result, "run_dir") else result))


def show_losses(rows: Sequence[Mapping[str, Any]] | str | os.PathLike, title: str = "") -> None:
    """Loss curves of a run: its history rows, or a run folder / losses.csv path."""
    from .figures import loss_curves

    show_image(loss_curves(_loss_rows(rows), title=title))


def show_video(path: str | os.PathLike, width: int = 384) -> None:
    """Embed an mp4 inline (self-contained: it survives saving the notebook), or say it is missing."""
    from IPython.display import HTML, Video

    path = Path(path)
    if path.is_dir():
        path = path / "progress.mp4"
    if not path.is_file():
        _display(HTML(f"<i>no video at {path} (video off, save_every 0, or too few steps)</i>"))
        return
    _display(Video(str(path), embed=True, width=width, html_attributes="controls loop autoplay muted"))


def download_link(data: bytes, filename: str, mime: str = "image/png", text: str = "") -> str:
    """An HTML link carrying `data` as a base64 data URI: a download that needs no file server."""
    encoded = base64.b64encode(data).decode("ascii")
    label = text or f"Download {filename}"
    return f'<a download="{filename}" href="data:{mime};base64,{encoded}" target="_blank">{label}</a>'


def show_table(rows: Sequence[Mapping[str, Any]] | str | os.PathLike, max_rows: int = 200) -> None:
    """A CSV file or a list of dicts as an HTML table (pandas if installed, else plain HTML)."""
    from html import escape

    from IPython.display import HTML

    from .files import read_csv

    rows = read_csv(Path(rows)) if isinstance(rows, (str, os.PathLike)) else list(rows)
    columns: list[str] = []
    for row in rows:
        columns += [c for c in row if c not in columns]
    head = "".join(f"<th>{escape(str(c))}</th>" for c in columns)
    body = "".join(
        "<tr>" + "".join(f"<td>{escape(str(row.get(c, '')))}</td>" for c in columns) + "</tr>"
        for row in rows[:max_rows]
    )
    more = f"<p><i>{len(rows) - max_rows} more rows</i></p>" if len(rows) > max_rows else ""
    _display(HTML(f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>{more}"))


def _loss_rows(rows: Sequence[Mapping[str, Any]] | str | os.PathLike) -> list[Mapping[str, Any]]:
    """Loss rows as given, or those of a run folder (through its record) or of a losses.csv file."""
    from .files import read_csv
    from .runs import RunRecord

    if isinstance(rows, (str, os.PathLike)):
        path = Path(rows)
        if not path.is_dir():
            return list(read_csv(path))
        record = RunRecord.read(path)
        if record is None:
            raise FileNotFoundError(f"{path}: no run record (config.json) here")
        return list(record.losses())
    return list(rows)


# ---- run folders ------------------------------------------------------------------------------------
def is_sweep_folder(path: Path) -> bool:
    return (path / "index.csv").is_file()


def newest_folder(runs_dir: str | os.PathLike = DEFAULT_RUNS_DIR) -> Path:
    """The most recently modified run or sweep folder in `runs_dir`."""
    from .paths import resolve_output

    root = resolve_output(runs_dir)
    candidates = (
        [p for p in root.iterdir() if p.is_dir() and (is_run_folder(p) or is_sweep_folder(p))] if root.is_dir() else []
    )
    if not candidates:
        raise FileNotFoundError(f"{root}: no run or sweep folder yet; run style_transfer.ipynb or sweep.ipynb first")
    return max(candidates, key=lambda p: (p.stat().st_mtime, p.name))


def run_panel(folder: str | os.PathLike, title: str = ""):
    """content | style(s) | result figure of a run folder (style images that are gone are left out)."""
    from .figures import panel
    from .images import ImageError, load_pil
    from .runs import RunRecord

    folder = Path(folder)
    record = RunRecord.read(folder)
    config = record.config if record is not None else {}
    images, titles = [], []
    sources = [("content", config.get("content"))] + [
        (f"style {i + 1}" if len(config.get("style", [])) > 1 else "style", s)
        for i, s in enumerate(config.get("style", []))
    ]
    for label, path in sources:
        if not path:
            continue
        try:
            pil = load_pil(path)
        except ImageError:
            continue
        pil.thumbnail((768, 768))
        images.append(np.asarray(pil))
        titles.append(label)
    images.append(np.asarray(load_pil(str(folder / "final.png"))))
    titles.append("result")
    fig = panel(images, titles)
    if title:
        fig.suptitle(title, fontsize=9, y=1.0 + 0.3 / fig.get_figheight())  # above the image titles
    return fig


def run_title(folder: Path) -> str:
    """A one-line summary of a run's main parameters, for figure titles."""
    from .runs import RunRecord

    record = RunRecord.read(folder)
    c = record.config if record is not None else {}
    keys = ("style_weight", "content_weight", "tv_weight", "optimizer", "epochs", "image_size", "init")
    return ", ".join(f"{k} {c[k]:g}" if isinstance(c.get(k), float) else f"{k} {c[k]}" for k in keys if k in c)


# ---- figures.ipynb ----------------------------------------------------------------------------------
def presentation_figures(
    folder: str | os.PathLike = "",
    runs_dir: str | os.PathLike = DEFAULT_RUNS_DIR,
    formats: Sequence[str] = FIGURE_FORMATS,
    show: bool = True,
    **grid_options: Any,
) -> list[Path]:
    """Figures of a run folder (panel, loss curves) or a sweep folder (the grid) into <folder>/figures/.

    An empty `folder` takes the newest run or sweep folder in `runs_dir`. Returns the files written.
    """
    from .figures import loss_curves, save_figure

    path = Path(project_path(str(folder))) if folder else newest_folder(runs_dir)
    if not path.is_dir():
        raise FileNotFoundError(f"{path}: no such folder")
    out = path / "figures"
    out.mkdir(exist_ok=True)
    figures: list[tuple[str, Any]] = []
    if is_sweep_folder(path):
        from .sweep import grid_figure

        figures.append(("grid", grid_figure(path, **grid_options)))
    elif is_run_folder(path):
        title = run_title(path)
        figures.append(("panel", run_panel(path, title)))
        figures.append(("loss_curves", loss_curves(_loss_rows(path), title=path.name)))
    else:
        raise FileNotFoundError(
            f"{path}: neither a run folder (config.json, losses.csv) nor a sweep folder (index.csv)"
        )
    written: list[Path] = []
    print(f"{path}:")
    for name, fig in figures:
        if show:
            # render once for display before saving (save_figure closes the figure)
            from IPython.display import Image as IPImage

            buffer = io.BytesIO()
            fig.savefig(buffer, format="png", dpi=100, bbox_inches="tight")
            _display(IPImage(data=buffer.getvalue(), format="png"))
        files = save_figure(fig, out / name, formats)
        written += files
        print("  wrote " + ", ".join(str(f.relative_to(path)) for f in files))
    return written


# ---- sweep.ipynb ------------------------------------------------------------------------------------
def project_path(path: str) -> str:
    """A path as given if it exists here, else relative to the project (Jupyter starts kernels in notebooks/)."""
    from .paths import resolve_input

    return resolve_input(path)


OVERRIDES_SEPARATOR = ";"  # not ",", which separates the items of a list value (style_layers=relu1_1,relu2_1)


def overrides_list(overrides: str | Sequence[str]) -> list[str]:
    """sweep.ipynb's `overrides` as `nst sweep --set` strings ("name=value").

    A string (papermill `-p overrides "image_size=64;epochs=20"`) holds them separated by ';'; a list
    (from a YAML file, `-f params.yaml`) holds one per item.
    """
    if not overrides:
        return []
    if isinstance(overrides, str):
        return [o.strip() for o in overrides.split(OVERRIDES_SEPARATOR) if o.strip()]
    return [str(o) for o in overrides]
