"""Style transfer end to end: config → images → features → losses → optimiser → run folder → figures.

`transfer_batch` runs several compatible experiments (same model, layers, sizes, optimizer kind and
step counts) as one batch through VGG; each keeps its own images, weights, learning rate,
initialisation, seed, run folder, losses and video.
"""
from __future__ import annotations

import hashlib
import math
import sys
import threading
import time
from collections import OrderedDict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import torch

from . import images as im
from .config import Config, ConfigError, is_url, resolve_path
from .device import compute_dtype, resolve_device, resolve_precision
from .layers import feature_size
from .losses import LossTerms, LossWeights, Targets, gram_matrix, total_loss
from .optimize import make_optimizer, optimize
from .runs import FrameSink, RunFolder
from .vgg import VGGFeatures, build_extractor

BATCH_KEYS = ("model", "weights", "pooling", "content_layers", "style_layers", "optimizer", "history",
              "sizes", "image_size", "level_epochs", "epochs", "device", "precision", "save_every", "video", "fps")


@dataclass
class Result:
    """What a run leaves: the final image (1×3×H×W, as saved), the loss rows, its folder and status."""

    image: torch.Tensor
    history: list[dict[str, Any]]
    run_dir: Path | None
    status: str = "done"
    reason: str | None = None
    final_losses: dict[str, float] = field(default_factory=dict)
    config: Config | None = None


class _TargetCache:
    """Targets reused within a process: sweep points mostly share their content and style images.

    Keyed by the extractor (network, weights, pooling, device), the layers and the image's pixels,
    so an image changed in any way (size, colour preprocessing) is a different entry.
    """

    def __init__(self, entries: int = 16):
        self.entries = entries
        self.store: OrderedDict[tuple, Any] = OrderedDict()

    def get(self, extractor: VGGFeatures, kind: str, image: torch.Tensor, layers: list[str],
            compute: Callable[[torch.Tensor], Any]) -> Any:
        if extractor.cache_key is None:
            return compute(image)
        digest = hashlib.sha1(image.detach().float().cpu().numpy().tobytes()).hexdigest()
        key = (extractor.cache_key, kind, tuple(layers), tuple(image.shape), digest)
        if key in self.store:
            self.store.move_to_end(key)
            return self.store[key]
        value = self.store[key] = compute(image)
        if len(self.store) > self.entries:
            self.store.popitem(last=False)
        return value


TARGET_CACHE = _TargetCache()


class StopRequested(Exception):
    """Raised inside the step loop when the caller's stop event is set."""


def transfer(config: Config | None = None, *, stop: threading.Event | None = None,
             on_progress: Callable[[dict[str, Any]], None] | None = None, run_dir: str | Path | None = None,
             **params: Any) -> Result:
    """Run one experiment: `transfer(Config(...))` or `transfer(style_weight=1e4, epochs=100, ...)`.

    `stop` (a threading.Event) ends the run early, keeping what was made (status "interrupted");
    `on_progress` receives {"epoch", "total_epochs", "rows", "image"} at every log point;
    `run_dir` is an existing folder to write into instead of a new timestamped one.
    """
    config = config.replace(**params) if config is not None else Config(**params)
    dirs = [Path(run_dir)] if run_dir else None
    return transfer_batch([config], stop=stop, on_progress=on_progress, run_dirs=dirs)[0]


def batch_key(config: Config) -> tuple:
    """Configs with equal keys can share one batch (content image sizes are checked once loaded)."""
    return tuple(str(getattr(config, k)) for k in BATCH_KEYS)


def transfer_batch(configs: list[Config], *, stop: threading.Event | None = None,
                   on_progress: Callable[[dict[str, Any]], None] | None = None,
                   run_dirs: list[Path] | None = None) -> list[Result]:
    """Run compatible experiments as one batch; `run_dirs` (existing empty folders) replace new ones."""
    if not configs:
        return []
    first = configs[0]
    for c in configs[1:]:
        if batch_key(c) != batch_key(first):
            diff = [k for k in BATCH_KEYS if getattr(c, k) != getattr(first, k)]
            raise ConfigError(f"batch: configs differ in {', '.join(diff)}; run them separately")
    for c in configs:
        c.validate()
    loaded = [_load_images(c) for c in configs]  # every image error before any model work
    device = resolve_device(first.device)
    precision = resolve_precision(first.precision, device)
    runs = []
    for i, c in enumerate(configs):
        extra = {"device": str(device), "precision": precision}
        if run_dirs is not None:
            Path(run_dirs[i]).mkdir(parents=True, exist_ok=True)
            runs.append(RunFolder(Path(run_dirs[i]), c.to_dict(), extra))
        else:
            runs.append(RunFolder.create(resolve_path(c.runs_dir), c.name or default_name(c), c.to_dict(), extra))
    job = _Job(configs, loaded, runs, device, precision, stop, on_progress)
    return job.run()


def default_name(config: Config) -> str:
    def stem(path: str) -> str:
        return Path(path.split("?")[0]).stem or "image"
    return f"{stem(config.content)}-{'+'.join(stem(s) for s in config.style)}"


@dataclass
class _Images:
    content: torch.Tensor
    styles: list[torch.Tensor]
    init: torch.Tensor | None


def _load_images(config: Config) -> _Images:
    def load(param: str, path: str) -> torch.Tensor:
        try:
            return im.load_image(path)
        except im.ImageError as e:
            raise im.ImageError(f"{param}: {e}") from None

    init = None
    if config.init not in ("content", "style", "noise"):
        if not is_url(config.init) and not Path(resolve_path(config.init)).exists():
            raise ConfigError(f"init: {config.init!r} is not content, style, noise or an existing image file")
        init = load("init", config.init)
    return _Images(load("content", config.content), [load("style", s) for s in config.style], init)


class _Job:
    """One batch run: levels of optimisation, logging, snapshots and the run folders' lifecycle."""

    def __init__(self, configs: list[Config], loaded: list[_Images], runs: list[RunFolder], device: torch.device,
                 precision: str, stop: threading.Event | None, on_progress: Callable | None):
        self.configs, self.loaded, self.runs = configs, loaded, runs
        self.device, self.precision, self.stop, self.on_progress = device, precision, stop, on_progress
        self.cfg = configs[0]
        self.batch = len(configs)
        self.rows: list[list[dict[str, Any]]] = [[] for _ in configs]
        self.failed: list[str | None] = [None] * self.batch
        self.active = torch.ones(self.batch, dtype=torch.bool, device=device)
        self.last_x: torch.Tensor | None = None
        self.sinks: list[FrameSink] = []

    # ---- lifecycle --------------------------------------------------------------------------
    def run(self) -> list[Result]:
        try:
            torch.manual_seed(self.cfg.seed)
            self._prepare()
            x = None
            offset = 0
            for level, (size, steps) in enumerate(zip(self.cfg.level_sizes, self.cfg.level_steps)):
                x = self._level(level, size, steps, offset, x)
                offset += steps
            return self._finish("done", None, x)
        except StopRequested:
            return self._finish("interrupted", "stopped by the user", self.last_x)
        except KeyboardInterrupt:
            self._finish("interrupted", "KeyboardInterrupt (Ctrl-C)", self.last_x)
            raise
        except BaseException as e:
            for run in self.runs:
                if run.info["status"] == "running":
                    run.finish("failed", f"{e.__class__.__name__}: {e}")
            self._close_sinks(quiet=True)
            raise

    def _prepare(self) -> None:
        cfg = self.cfg
        layers = list(dict.fromkeys(cfg.content_layers + cfg.style_layers))
        self.extractor = build_extractor(cfg.model, cfg.weights, layers, cfg.pooling, self.device)
        self.fast = (build_extractor(cfg.model, cfg.weights, layers, cfg.pooling, self.device,
                                     compute_dtype(self.precision)) if self.precision != "fp32" else self.extractor)
        self.weights = LossWeights(
            content=self._per_sample(lambda c: c.content_weight),
            style=self._per_sample(lambda c: c.style_weight),
            tv=self._per_sample(lambda c: c.tv_weight),
            content_layers=torch.tensor([c.resolved_content_layer_weights() for c in self.configs],
                                        device=self.device).reshape(self.batch, len(cfg.content_layers)),
            style_layers=torch.tensor([c.resolved_style_layer_weights() for c in self.configs],
                                      device=self.device).reshape(self.batch, len(cfg.style_layers)),
            use_tv=any(c.tv_weight > 0 for c in self.configs))
        self.final_hw = self._content_hw(cfg.level_sizes[-1])
        if cfg.save_every:
            self.sinks = [FrameSink(run.path, cfg.video, cfg.fps, self.final_hw) for run in self.runs]
        self.progress = _Progress(cfg.progress, cfg.total_epochs, cfg.log_every, self.batch)

    def _per_sample(self, get: Callable[[Config], float]) -> torch.Tensor:
        return torch.tensor([float(get(c)) for c in self.configs], device=self.device)

    def _content_hw(self, size: int) -> tuple[int, int]:
        shapes = {im.scaled_size(*img.content.shape[-2:], size) for img in self.loaded}
        if len(shapes) > 1:
            raise ConfigError(f"batch: content images give different sizes {sorted(shapes)} at {size} px; "
                              "run them separately")
        return shapes.pop()

    # ---- one resolution level ----------------------------------------------------------------
    def _inputs(self, size: int) -> tuple[torch.Tensor, list[list[torch.Tensor]]]:
        """Content batch and per-sample style images at this level, colour-preprocessed."""
        hw = self._content_hw(size)
        contents, styles = [], []
        for c, img in zip(self.configs, self.loaded):
            content = im.resize(img.content, hw).to(self.device)
            style_side = max(16, round(size * c.style_scale))
            these = [im.resize_longest(s, style_side).to(self.device) for s in img.styles]
            if c.preserve_color == "histogram":
                these = [im.match_colour_histogram(s, content) for s in these]
            elif c.preserve_color == "luminance":
                these = [im.match_luminance(s, content) for s in these]
                content = im.luminance(content)
            contents.append(content)
            styles.append(these)
        return torch.cat(contents), styles

    @torch.no_grad()
    def _targets(self, content: torch.Tensor, styles: list[list[torch.Tensor]]) -> Targets:
        """Content features P_l and blended style Grams A_l, once, in fp32, without gradients."""
        cfg = self.cfg
        per_sample = [TARGET_CACHE.get(self.extractor, "content", content[b:b + 1], cfg.content_layers,
                                       lambda x: self.extractor(x, cfg.content_layers))
                      for b in range(self.batch)] if cfg.content_layers else []
        content_feats = {layer: torch.cat([f[layer] for f in per_sample]) for layer in cfg.content_layers}
        grams: dict[str, list[torch.Tensor]] = {layer: [] for layer in cfg.style_layers}
        positions = {layer: math.prod(feature_size(cfg.model, layer, *content.shape[-2:])) for layer in cfg.style_layers}
        for c, these in zip(self.configs, styles):
            blended = {layer: 0.0 for layer in cfg.style_layers}
            for weight, style in zip(c.resolved_blend_weights(), these):
                style_grams = TARGET_CACHE.get(self.extractor, "gram", style, cfg.style_layers, self._style_grams)
                for layer, (gram, style_positions) in style_grams.items():
                    # Gram sums over positions: rescale to the generated image's M_l so style images
                    # of any size match the paper's same-size case.
                    blended[layer] = blended[layer] + weight * (positions[layer] / style_positions) * gram
            for layer in cfg.style_layers:
                grams[layer].append(blended[layer])
        return Targets({k: v.float() for k, v in content_feats.items()},
                       {k: torch.cat(v) for k, v in grams.items()})

    def _style_grams(self, style: torch.Tensor) -> dict[str, tuple[torch.Tensor, int]]:
        feats = self.extractor(style, self.cfg.style_layers)
        return {layer: (gram_matrix(f), f.shape[2] * f.shape[3]) for layer, f in feats.items()}

    def _initial(self, content: torch.Tensor, styles: list[list[torch.Tensor]]) -> torch.Tensor:
        out = []
        hw = tuple(content.shape[-2:])
        for i, (c, img) in enumerate(zip(self.configs, self.loaded)):
            if c.init == "content":
                x = content[i:i + 1]
            elif c.init == "style":
                x = im.resize(styles[i][0], hw)
            elif c.init == "noise":
                gen = torch.Generator().manual_seed(c.seed)
                x = (0.5 + c.noise_std * torch.randn(1, 3, *hw, generator=gen)).clamp(0, 1).to(self.device)
            else:
                assert img.init is not None
                x = im.resize(img.init.to(self.device), hw)
            if c.preserve_color == "luminance":
                x = im.luminance(x)
            out.append(x)
        return torch.cat(out).contiguous()

    def _level(self, level: int, size: int, steps: int, offset: int, previous: torch.Tensor | None) -> torch.Tensor:
        content, styles = self._inputs(size)
        self.targets = self._targets(content, styles)
        self.content_images = content
        x = self._initial(content, styles) if previous is None else im.resize(previous, tuple(content.shape[-2:]))
        self.last_x = x
        self.level, self.offset, self.level_steps = level, offset, steps
        self.pending: list[tuple[int, LossTerms]] = []
        self.good_x = x.clone()
        lbfgs = self.cfg.optimizer == "lbfgs"
        lr = self._per_sample(lambda c: c.learning_rate)

        def objective(images: torch.Tensor, k: int) -> LossTerms:
            # L-BFGS's first curvature pair must not be bf16 noise: first step in fp32 (FACTS.md).
            extractor = self.extractor if (lbfgs and k == 0) else self.fast
            return total_loss(extractor(images), images, self.targets, self.weights)

        optimizer = make_optimizer(self.cfg.optimizer, lr, self.cfg.history, steps)
        return optimize(x, objective, optimizer, steps, self._on_step, self.active)

    # ---- per step: logging, NaN guard, snapshots ------------------------------------------------
    def _on_step(self, k: int, x: torch.Tensor, terms: LossTerms) -> torch.Tensor:
        if self.stop is not None and self.stop.is_set():
            raise StopRequested
        epoch = self.offset + k
        self.pending.append((epoch, LossTerms(**{n: getattr(terms, n).detach() for n in ("total", "content", "style", "tv")},
                                              layers={n: v.detach() for n, v in terms.layers.items()})))
        save = self.cfg.save_every and epoch % self.cfg.save_every == 0
        report = k == self.level_steps - 1 or epoch % self.cfg.log_every == 0
        if save or report:
            x = self._flush(x, report)
            if save:
                self._snapshot(epoch, x)
        self.last_x = x
        return x

    def _flush(self, x: torch.Tensor, report: bool = True) -> torch.Tensor:
        """Move pending loss values to the host; stop samples whose loss turned NaN/inf."""
        if not self.pending:
            return x
        epochs = [e for e, _ in self.pending]
        columns = {name: torch.stack([t.columns()[name] for _, t in self.pending]).cpu()
                   for name in self.pending[0][1].columns()}
        self.pending = []
        finite = torch.isfinite(columns["total"])  # steps × B
        for b in range(self.batch):
            if not bool(self.active[b]):
                continue
            bad = (~finite[:, b]).nonzero()
            stop_at = int(bad[0]) if len(bad) else len(epochs)
            for i in range(stop_at):
                self.rows[b].append({"epoch": epochs[i], "level": self.level,
                                     **{n: float(v[i, b]) for n, v in columns.items()}})
            if len(bad):
                self.failed[b] = f"non-finite loss at epoch {epochs[stop_at]}; kept the last good image"
                self.active[b] = False
                x[b] = self.good_x[b]
            else:
                self.good_x[b] = x[b]
        self._write_losses()
        if not report:
            return x
        self.progress.update(epochs[-1] + 1, [rows[-1] if rows else None for rows in self.rows])
        if self.on_progress is not None:
            self.on_progress({"epoch": epochs[-1] + 1, "total_epochs": self.cfg.total_epochs,
                              "rows": self.rows, "image": x.detach()})
        return x

    def _write_losses(self) -> None:
        for run, rows in zip(self.runs, self.rows):
            run.save_losses(rows)

    def _snapshot(self, epoch: int, x: torch.Tensor) -> None:
        if not self.sinks:
            return
        shown = self._displayed(x)
        for b, sink in enumerate(self.sinks):
            sink.add(epoch, im.tensor_to_uint8(shown[b:b + 1]))

    def _displayed(self, x: torch.Tensor) -> torch.Tensor:
        """What the user sees: with luminance-only transfer, the content's colours put back."""
        out = x.detach().clone()
        for b, (c, img) in enumerate(zip(self.configs, self.loaded)):
            if c.preserve_color == "luminance":
                out[b:b + 1] = im.with_content_colour(x[b:b + 1], img.content.to(x.device))
        return out

    # ---- the end ----------------------------------------------------------------------------------
    @torch.no_grad()
    def _final_losses(self, x: torch.Tensor) -> LossTerms:
        """Losses of the saved 8-bit image, in fp32."""
        return total_loss(self.extractor(x), x, self.targets, self.weights)

    def _finish(self, status: str, reason: str | None, x: torch.Tensor | None) -> list[Result]:
        self.progress.close()
        results = []
        if x is None:
            x = self.last_x
        if x is not None and getattr(self, "targets", None) is not None:
            if hasattr(self, "pending"):
                x = self._flush(x)
            final = im.quantize(x)
            terms = self._final_losses(final)
            unquantized = self._final_losses(x)
            shown = im.quantize(self._displayed(final))
        else:
            terms = shown = unquantized = None
        for b, (c, run) in enumerate(zip(self.configs, self.runs)):
            state, why = (("failed", self.failed[b]) if self.failed[b] else (status, reason))
            final_losses: dict[str, float] = {}
            image = torch.empty(0)
            if terms is not None and shown is not None and unquantized is not None:
                image = shown[b:b + 1].cpu()
                final_losses = {n: float(v[b]) for n, v in terms.columns().items()}
                run.info["final_total_unquantized"] = float(unquantized.total[b])
                if state == "done":
                    epoch = self.cfg.total_epochs
                else:
                    epoch = self.rows[b][-1]["epoch"] + 1 if self.rows[b] else 0
                self.rows[b].append({"epoch": epoch, "level": self.level, **final_losses})
                im.save_image(image, run.path / "final.png")
                if self.sinks:
                    self.sinks[b].add(epoch, im.tensor_to_uint8(image))
            results.append(Result(image, self.rows[b], run.path, state, why, final_losses, c))
        self._write_losses()
        self._close_sinks()
        for b, (c, run, result) in enumerate(zip(self.configs, self.runs, results)):
            if result.image.numel():
                self._panel(b, run, result.image)
            run.finish(result.status, result.reason, final_losses=result.final_losses,
                       epochs_done=result.history[-1]["epoch"] if result.history else 0,
                       image_size=list(result.image.shape[-2:]) if result.image.numel() else None)
        return results

    def _close_sinks(self, quiet: bool = False) -> None:
        for sink in self.sinks:
            try:
                sink.close()
            except Exception:
                if not quiet:
                    raise
        self.sinks = []

    def _panel(self, b: int, run: RunFolder, result: torch.Tensor) -> None:
        from .figures import panel, save_figure

        img = self.loaded[b]
        side = max(result.shape[-2:])  # inputs at the result's scale: drawing full-size photos is slow

        def small(image: torch.Tensor) -> torch.Tensor:
            return im.resize_longest(image, side) if max(image.shape[-2:]) > side else image

        shown = [im.tensor_to_uint8(small(img.content)), *[im.tensor_to_uint8(small(s)) for s in img.styles],
                 im.tensor_to_uint8(result)]
        titles = ["content", *[f"style {i + 1}" if len(img.styles) > 1 else "style" for i in range(len(img.styles))],
                  "result"]
        save_figure(panel(shown, titles), run.path / "panel.png")


class _Progress:
    """tqdm bar ('auto'), a line every `log_every` steps ('text', for papermill logs) or nothing."""

    def __init__(self, mode: str, total: int, every: int, batch: int):
        self.mode, self.total, self.every, self.batch = mode, total, every, batch
        self.started, self.done = time.time(), 0
        self.bar = None
        if mode == "auto":
            from tqdm.auto import tqdm
            self.bar = tqdm(total=total, unit="step", desc="style transfer")

    def update(self, done: int, last_rows: list[dict[str, Any] | None]) -> None:
        rows = [r for r in last_rows if r]
        if not rows:
            return
        row = rows[0]
        if self.bar is not None:
            self.bar.update(done - self.done)
            self.bar.set_postfix(total=f"{row['total']:.3g}", content=f"{row['content']:.3g}",
                                 style=f"{row['style']:.3g}")
        elif self.mode == "text":
            rate = (time.time() - self.started) / max(1, done)
            extra = f" ({self.batch} samples)" if self.batch > 1 else ""
            print(f"step {done}/{self.total}{extra}  total {row['total']:.4g}  content {row['content']:.4g}  "
                  f"style {row['style']:.4g}  tv {row['tv']:.3g}  {rate:.2f} s/step", file=sys.stdout, flush=True)
        self.done = done

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()
            self.bar = None
