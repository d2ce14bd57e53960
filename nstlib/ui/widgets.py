"""An ipywidgets explorer for one style transfer: pick or upload images, set the main parameters, Run/Stop.

    from nstlib.widgets import Explorer
    Explorer().show()

The run happens in a background thread (Stop sets its threading.Event and keeps what was made); the
preview image and the loss plot refresh every `refresh_every` steps; the result comes with a
download link (a base64 data URI, so it works on Colab and in saved notebooks). Works with
ipywidgets 7.7 (Colab) and 8.x: the two shapes of FileUpload.value are read by `uploaded_files`.
"""

from __future__ import annotations

import hashlib
import io
import threading
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from nstlib.config import DEFAULT_CONTENT, DEFAULT_STYLE, INIT_MODES, Config, fields_by_name
from nstlib.errors import ConfigError
from nstlib.paths import DEFAULT_RUNS_DIR, resolve_output, source_root

IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".webp", ".bmp", ".tif", ".tiff")
THUMB_SIDE = 160
PREVIEW_SIDE = 384
LOSS_PLOT_DPI = 75  # figures.loss_curves is 5×3.2 in: 375×240 px


def _ipywidgets_major() -> int:
    try:
        from importlib.metadata import version

        return int(version("ipywidgets").split(".")[0])
    except Exception:
        return 8


IPYWIDGETS_8 = _ipywidgets_major() >= 8


# ---- pure helpers (unit-tested without a browser) -----------------------------------------------------
def uploaded_files(value: Any) -> list[tuple[str, bytes]]:
    """(name, bytes) of every file in a FileUpload value.

    ipywidgets 8: a tuple of dicts {"name", "type", "size", "content": memoryview, "last_modified"}.
    ipywidgets 7: a dict {filename: {"metadata": {"name", "type", "size", "lastModified"}, "content": bytes}}.
    """
    if not value:
        return []
    if isinstance(value, Mapping):
        items = []
        for key, entry in value.items():
            meta = entry.get("metadata", {}) if isinstance(entry, Mapping) else {}
            items.append((str(meta.get("name", key)), bytes(entry["content"])))
        return items
    return [(entry["name"], bytes(entry["content"])) for entry in value]


def bundled_images(kind: str) -> list[tuple[str, str]]:
    """(label, path) of the bundled collections/<kind>/ images, from the working directory or the project."""
    for root in [r for r in (Path.cwd(), source_root()) if r is not None]:
        folder = root / "collections" / kind
        if folder.is_dir():
            files = sorted(p for p in folder.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES)
            if files:
                return [(p.stem, f"collections/{kind}/{p.name}") for p in files]  # resolve_input finds them
    return []


def save_upload(name: str, data: bytes, folder: Path) -> Path:
    """Keep an uploaded image as <folder>/<hash>_<name> (the run's config.json refers to it)."""
    from nstlib.record.runs import slug

    folder.mkdir(parents=True, exist_ok=True)
    stem, suffix = Path(name).stem, Path(name).suffix.lower() or ".png"
    path = folder / f"{hashlib.sha256(data).hexdigest()[:8]}_{slug(stem, 40)}{suffix}"
    if not path.exists():
        from nstlib.files import atomic_write_bytes

        atomic_write_bytes(path, data)
    return path


def thumbnail_png(path: str, side: int = THUMB_SIDE) -> bytes:
    from nstlib.images import load_pil

    img = load_pil(path)
    img.thumbnail((side, side))
    buffer = io.BytesIO()
    img.save(buffer, format="PNG")
    return buffer.getvalue()


def image_png(image: Any, side: int = PREVIEW_SIDE) -> bytes:
    """PNG bytes of a 1×3×H×W tensor (or uint8 array), shrunk to `side` on its longest side."""
    from PIL import Image

    from nstlib.ui.notebook.display import to_uint8

    img = Image.fromarray(to_uint8(image))
    if max(img.size) > side:
        img.thumbnail((side, side))
    buffer = io.BytesIO()
    img.save(buffer, format="PNG")
    return buffer.getvalue()


def loss_plot_png(rows: Sequence[Mapping[str, Any]]) -> bytes:
    """figures.loss_curves (with tv) as PNG, drawn without pyplot so it is safe in a background thread."""
    from nstlib.record.figures import loss_curves

    fig = loss_curves(rows, columns=("total", "content", "style", "tv"), pyplot=False)
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=LOSS_PLOT_DPI)
    return buffer.getvalue()


def image_widget(max_width: str) -> Any:
    """An Image that keeps its aspect ratio. A flex box stretches its items across its axis (an HBox to
    its tallest item: a 256×170 preview beside the loss plot showed 256×240); aligning the image to the
    start and leaving its height auto keeps it at its own size, in ipywidgets 7 and 8 alike."""
    import ipywidgets as w

    return w.Image(format="png", layout=w.Layout(max_width=max_width, height="auto", align_self="flex-start"))


def _choices(name: str) -> list[str]:
    return list(fields_by_name()[name].metadata["choices"])


def _help(name: str) -> str:
    return fields_by_name()[name].metadata["help"]


# ---- the explorer ---------------------------------------------------------------------------------------
class Explorer:
    """The widget UI. `show()` displays it; `run()`/`stop()`/`wait()` do what the buttons do."""

    def __init__(
        self,
        runs_dir: str = DEFAULT_RUNS_DIR,
        image_size: int = 256,
        epochs: int = 100,
        refresh_every: int = 5,
        **config: Any,
    ):
        import ipywidgets as w

        self.runs_dir = runs_dir
        self.refresh_every = refresh_every
        self.extra = config  # any other Config fields (e.g. device, weights, save_every)
        defaults = Config(image_size=image_size, epochs=epochs, **config)
        self.thread: threading.Thread | None = None
        self.stop_event = threading.Event()
        self.result: Any = None
        self.error: BaseException | None = None
        self._last_refresh = 0.0

        wide = w.Layout(width="340px")
        style = {"description_width": "110px"}

        def dropdown(kind: str, default: str) -> Any:
            options = bundled_images(kind)
            value = next((p for _, p in options if p == default), options[0][1] if options else None)
            return w.Dropdown(options=options, value=value, description=kind, layout=wide, style=style)

        self.content = dropdown("content", DEFAULT_CONTENT)
        self.style = dropdown("style", DEFAULT_STYLE)
        self.content_upload = w.FileUpload(accept="image/*", multiple=False, description="upload content")
        self.style_upload = w.FileUpload(accept="image/*", multiple=False, description="upload style")
        self.content_thumb = image_widget(f"{THUMB_SIDE}px")
        self.style_thumb = image_widget(f"{THUMB_SIDE}px")

        # A slider snaps a typed value to min + k·step in the browser (epochs step 10 turned 15 into 20) and
        # clamps it to [min, max], so integer sliders step by 1 from Config's minimum, reach at least the initial
        # value, and weights are text boxes: every valid value can be typed as is.
        def int_slider(name: str, value: int, largest: int) -> Any:
            return w.IntSlider(
                value=value,
                min=fields_by_name()[name].metadata["minimum"],
                max=max(largest, value),
                step=1,
                description=name,
            )

        self.params: dict[str, Any] = {
            "image_size": int_slider("image_size", defaults.image_size, 1024),
            "epochs": int_slider("epochs", defaults.epochs, 1000),
            "style_weight": w.BoundedFloatText(
                value=defaults.style_weight, min=0, max=1e12, description="style_weight"
            ),
            "content_weight": w.BoundedFloatText(
                value=defaults.content_weight, min=0, max=1e12, description="content_weight"
            ),
            "tv_weight": w.BoundedFloatText(value=defaults.tv_weight, min=0, max=1e12, description="tv_weight"),
            "optimizer": w.Dropdown(options=_choices("optimizer"), value=defaults.optimizer, description="optimizer"),
            "lr": w.BoundedFloatText(value=defaults.lr, min=0, max=1e6, description="lr"),
            "init": w.Dropdown(options=list(INIT_MODES), value=defaults.init, description="init"),
            "pooling": w.Dropdown(options=_choices("pooling"), value=defaults.pooling, description="pooling"),
            "preserve_color": w.Dropdown(
                options=_choices("preserve_color"), value=defaults.preserve_color, description="preserve_color"
            ),
        }
        for name, widget in self.params.items():
            widget.layout = wide
            widget.style = style
            setattr(widget, "tooltip" if IPYWIDGETS_8 else "description_tooltip", _help(name))

        self.run_button = w.Button(description="Run", button_style="success", icon="play")
        self.stop_button = w.Button(description="Stop", button_style="danger", icon="stop", disabled=True)
        self.progress = w.IntProgress(
            value=0, min=0, max=max(1, defaults.epochs), description="step 0", layout=wide, style=style
        )
        self.status = w.HTML("Choose images and parameters, then Run.")
        self.preview = image_widget(f"{PREVIEW_SIDE}px")
        self.loss_plot = image_widget("380px")
        self.download = w.HTML("")

        self.content.observe(lambda change: self._thumb(self.content, self.content_thumb), names="value")
        self.style.observe(lambda change: self._thumb(self.style, self.style_thumb), names="value")
        self.content_upload.observe(
            lambda change: self._on_upload(change["new"], self.content, self.content_upload), names="value"
        )
        self.style_upload.observe(
            lambda change: self._on_upload(change["new"], self.style, self.style_upload), names="value"
        )
        self.run_button.on_click(lambda _: self.run())
        self.stop_button.on_click(lambda _: self.stop())
        self._thumb(self.content, self.content_thumb)
        self._thumb(self.style, self.style_thumb)

        images = w.HBox(
            [
                w.VBox([self.content, self.content_upload, self.content_thumb]),
                w.VBox([self.style, self.style_upload, self.style_thumb]),
            ]
        )
        controls = w.VBox([*self.params.values(), w.HBox([self.run_button, self.stop_button]), self.progress])
        outputs = w.VBox([self.status, w.HBox([self.preview, self.loss_plot]), self.download])
        self.ui = w.VBox([images, controls, outputs])

    # ---- public ------------------------------------------------------------------------------------
    def show(self) -> Explorer:
        from IPython.display import display

        display(self.ui)
        return self

    def config(self) -> Config:
        """The Config the current widget values describe."""
        values = {name: widget.value for name, widget in self.params.items()}
        return Config(
            **{
                **self.extra,
                **values,
                "content": self.content.value,
                "style": [self.style.value],
                "runs_dir": self.runs_dir,
                "progress": "none",
                "log_every": self.refresh_every,
            }
        )

    def run(self) -> None:
        """Start a run in a background thread (what the Run button does)."""
        if self.running:
            return
        try:
            config = self.config()
        except (ConfigError, ValueError) as e:
            self._set_status(f"<b style='color:#b00'>bad parameter</b>: {_escape(e)}")
            return
        self.stop_event = threading.Event()
        self.result, self.error = None, None
        self.download.value = ""
        self.preview.value = b""
        self.progress.max = max(1, config.total_epochs)
        self.progress.value = 0
        self.progress.description = "step 0"
        self.run_button.disabled, self.stop_button.disabled = True, False
        self._set_status(f"running {config.total_epochs} steps at {config.image_size} px …")
        self.thread = threading.Thread(target=self._work, args=(config,), name="nstlib-explorer", daemon=True)
        self.thread.start()

    def stop(self) -> None:
        """Ask the run to stop at the next step; it keeps what was made (what the Stop button does)."""
        self.stop_event.set()
        self.stop_button.disabled = True
        if self.running:
            self._set_status("stopping …")

    def wait(self, timeout: float | None = None) -> Any:
        """Block until the run thread ends; returns the Result (None if it failed)."""
        if self.thread is not None:
            self.thread.join(timeout)
        return self.result

    @property
    def running(self) -> bool:
        return self.thread is not None and self.thread.is_alive()

    # ---- internals ------------------------------------------------------------------------------------
    def _work(self, config: Config) -> None:
        from nstlib.run.transfer import transfer

        started = time.time()
        colour = self._content_colour(config)
        try:
            result = transfer(config, stop=self.stop_event, on_progress=lambda info: self._on_progress(info, colour))
        except BaseException as e:  # shown in the UI: a thread has nobody else to tell
            self.error = e
            self._set_status(f"<b style='color:#b00'>failed</b>: {_escape(type(e).__name__)}: {_escape(e)}")
            self.run_button.disabled, self.stop_button.disabled = False, True
            return
        self.result = result
        self.preview.value = image_png(result.image)
        self.loss_plot.value = loss_plot_png(result.history)
        self.progress.value = min(self.progress.max, result.history[-1]["epoch"] if result.history else 0)
        name = f"{Path(result.run_dir).name}.png" if result.run_dir else "result.png"
        final = Path(result.run_dir) / "final.png" if result.run_dir else None
        data = final.read_bytes() if final is not None and final.is_file() else image_png(result.image, 10_000)
        from nstlib.ui.notebook.display import download_link

        self.download.value = download_link(data, name, text=f"⬇ Download the result ({name})")
        why = f" ({_escape(result.reason)})" if result.reason else ""
        self._set_status(
            f"<b>{result.status}</b>{why} in {time.time() - started:.1f} s — run folder "
            f"<code>{_escape(result.run_dir)}</code>" + metrics_line(result.run_dir)
        )
        self.run_button.disabled, self.stop_button.disabled = False, True

    def _content_colour(self, config: Config):
        """With luminance-only transfer the optimised image is grey: preview it with the content's colours."""
        if config.preserve_color != "luminance":
            return None
        from nstlib.images import load_image

        return load_image(config.content)

    def _on_progress(self, info: dict[str, Any], colour: Any) -> None:
        done, total = info["epoch"], info["total_epochs"]
        self.progress.value = min(done, self.progress.max)
        self.progress.description = f"step {done}"
        now = time.time()
        if done < total and now - self._last_refresh < 0.3:  # keep the browser responsive on fast GPUs
            return
        self._last_refresh = now
        image = info["image"][:1].float()
        if colour is not None:
            from nstlib.images import with_content_colour

            image = with_content_colour(image.cpu(), colour)
        self.preview.value = image_png(image)
        rows = info["rows"][0]
        if rows:
            self.loss_plot.value = loss_plot_png(rows)

    def _on_upload(self, value: Any, dropdown: Any, upload: Any) -> None:
        files = uploaded_files(value)
        if not files:
            return
        name, data = files[-1]
        try:
            path = save_upload(name, data, resolve_output(self.runs_dir) / "uploads")
            from nstlib.images import load_pil

            load_pil(str(path))  # refuse non-images now, not at Run
        except Exception as e:
            self._set_status(f"<b style='color:#b00'>upload refused</b>: {_escape(e)}")
            return
        option = (f"{Path(name).stem} (uploaded)", str(path))
        if option not in dropdown.options:
            dropdown.options = [*dropdown.options, option]
        dropdown.value = str(path)
        self._set_status(f"uploaded {_escape(name)}")

    def _thumb(self, dropdown: Any, image: Any) -> None:
        if not dropdown.value:
            return
        try:
            image.value = thumbnail_png(dropdown.value)
        except Exception as e:
            self._set_status(f"<b style='color:#b00'>cannot read image</b>: {_escape(e)}")

    def _set_status(self, html: str) -> None:
        self.status.value = html


def metrics_line(run_dir: Any) -> str:
    """A finished run's scores (metrics.json; docs/metrics.md) as one line of HTML; empty if it has none."""
    from nstlib.record.runs import read_metrics

    metrics = read_metrics(run_dir) if run_dir else {}
    shown = [f"{name.removesuffix('_distance')} {value:.3g}" for name, value in metrics.items() if value is not None]
    return f"<br><small>metrics: {_escape(' · '.join(shown))}</small>" if shown else ""


def _escape(value: Any) -> str:
    from html import escape

    return escape(str(value))
