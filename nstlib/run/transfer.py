"""Style transfer end to end: config → images → features → losses → optimiser → run folder.

`transfer_batch` runs several compatible experiments (same model, layers, sizes, optimizer kind and
step counts) as one batch through VGG; each keeps its own images, weights, learning rate,
initialisation, seed, run folder, losses and video. This module holds the run's lifecycle; the
files it leaves are written by `recorder.py`.
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import torch

from nstlib import images as im
from nstlib.config import Config
from nstlib.controls import CONTENT_LOSS_CATALOG, STYLE_LOSS_CATALOG
from nstlib.errors import ConfigError
from nstlib.interrupts import Interrupted, deferred_interrupts, describe, is_terminated, terminate_as_interrupt
from nstlib.losses import tiled as tiled_losses
from nstlib.losses.core import LossTerms, LossWeights, Targets
from nstlib.losses.temporal import TemporalLoss
from nstlib.model.device import compute_dtype, precision_record, resolve_device, resolve_precision
from nstlib.model.vgg import load_weights
from nstlib.paths import resolve_output
from nstlib.record.recorder import Recorder
from nstlib.record.runs import RunFolder
from nstlib.record.video import expected_frames
from nstlib.run.batching import BATCH_KEYS, batch_key, default_name
from nstlib.run.device_memory import heap_choice, heap_for_run, peak_record
from nstlib.run.inputs import Inputs, check_sizes, content_hw, load_inputs
from nstlib.run.levels import initial_images, level_inputs, level_targets, network
from nstlib.run.memory import Estimate, keeps_heap, memory_notes, memory_record
from nstlib.run.optimize import Stopping, make_optimizer, optimize
from nstlib.run.progress import Progress
from nstlib.run.result import Result as Result  # re-exported: what a run returns
from nstlib.run.result import StopRequested as StopRequested
from nstlib.run.timing import estimated_seconds, time_note, worth_estimating


class _NothingActive(Exception):
    """Every sample of the batch has stopped (diverged): no step is left worth taking."""


ProgressCallback = Callable[[dict[str, Any]], None]


def transfer(
    config: Config | None = None,
    *,
    stop: threading.Event | None = None,
    on_progress: ProgressCallback | None = None,
    run_dir: str | Path | None = None,
    start: torch.Tensor | None = None,
    temporal: tuple[TemporalLoss, float] | None = None,
    **params: Any,
) -> Result:
    """Run one experiment: `transfer(Config(...))` or `transfer(style_weight=1e4, epochs=100, ...)`.

    `stop` (a threading.Event) ends the run early, keeping what was made (status "interrupted");
    `on_progress` receives {"epoch", "total_epochs", "rows", "image"} at every log point;
    `run_dir` is an existing folder to write into instead of a new one; `start`, `temporal`: see `transfer_batch`.
    """
    config = config.replace(**params) if config is not None else Config(**params)
    dirs = [Path(run_dir)] if run_dir else None
    return transfer_batch([config], stop=stop, on_progress=on_progress, run_dirs=dirs, start=start, temporal=temporal)[
        0
    ]


def transfer_batch(
    configs: list[Config],
    *,
    stop: threading.Event | None = None,
    on_progress: ProgressCallback | None = None,
    run_dirs: Sequence[Path] | None = None,
    labels: Sequence[str] | None = None,
    start: torch.Tensor | None = None,
    temporal: tuple[TemporalLoss, float] | None = None,
) -> list[Result]:
    """Run compatible experiments as one batch; `run_dirs` (existing empty folders) replace new ones,
    `labels` name the samples in progress lines (default: the run names).

    `start` (B×3×H×W in [0, 1]) replaces the configs' `init` as the first level's starting images (a video's
    warped previous frame); `temporal` (a loss, its weight) adds weight · loss to every level of the loss's size,
    logged as a `temporal` column (Ruder et al., GCPR 2016)."""
    if not configs:
        return []
    first = configs[0]
    for c in configs[1:]:
        if batch_key(c) != batch_key(first):
            diff = [k for k in BATCH_KEYS if getattr(c, k) != getattr(first, k)]
            raise ConfigError(f"batch: configs differ in {', '.join(diff)}; run them separately")
    for c in configs:
        c.validate()
    loaded = [load_inputs(c) for c in configs]  # every image error before any model work
    device = resolve_device(first.device)
    memory = check_sizes(configs, loaded, device)
    load_weights(first.model, first.weights)  # a bad weights file is refused before any folder exists (cached)
    precision = resolve_precision(first.precision, device)
    heap = heap_choice(device, keeps_heap(memory, first, device))
    seconds = estimated_seconds(configs, loaded, device, precision, memory) if worth_estimating(first) else None
    extra = {
        "device": str(device),
        "precision": precision,
        "precision_choice": precision_record(first.precision, precision, device),
        "memory": memory_record(memory, device, heap),
        **({"time_estimate_s": round(seconds, 1)} if seconds is not None else {}),
    }
    if run_dirs is not None:
        runs = [RunFolder(Path(d), c.to_dict(), extra) for c, d in zip(configs, run_dirs)]
    else:
        runs = [
            RunFolder.create(resolve_output(c.runs_dir), c.name or default_name(c), c.to_dict(), extra) for c in configs
        ]
    names = list(labels) if labels is not None else [c.name or default_name(c) for c in configs]
    # SIGTERM ends the run as Ctrl-C does: records written, status interrupted
    with terminate_as_interrupt(), heap_for_run(heap):
        return _Job(configs, loaded, runs, device, precision, stop, on_progress, names, memory, start, temporal).run()


class _Job:
    """One batch run: levels of optimisation, the NaN guard, progress and the runs' lifecycle."""

    def __init__(
        self,
        configs: list[Config],
        loaded: list[Inputs],
        runs: list[RunFolder],
        device: torch.device,
        precision: str,
        stop: threading.Event | None,
        on_progress: ProgressCallback | None,
        labels: list[str],
        memory: Estimate,
        start: torch.Tensor | None = None,
        temporal: tuple[TemporalLoss, float] | None = None,
    ):
        self.configs, self.loaded, self.runs, self.memory = configs, loaded, runs, memory
        self.start, self.temporal = start, temporal  # transfer_batch's
        self.device, self.precision, self.stop, self.on_progress = device, precision, stop, on_progress
        self.cfg = configs[0]
        self.batch = len(configs)
        self.failed: list[str | None] = [None] * self.batch
        self.active = torch.ones(self.batch, dtype=torch.bool, device=device)  # not failed
        self.stopped: list[int | None] = [None] * self.batch  # the epoch a converged sample stopped at (last level)
        self.steps_run = [0] * self.batch
        self.final_hw = self._content_hw(self.cfg.level_sizes[-1])
        self.recorder = Recorder(
            runs,
            self.cfg.save_every,
            self.cfg.video,
            self.cfg.fps,
            self.final_hw,
            expected_frames(self.cfg.total_epochs, self.cfg.save_every),
            [
                (img.content if c.has_content else None, img.styles, c.resolved_blend_weights())
                for c, img in zip(configs, loaded)
            ],
        )
        self.progress = Progress(self.cfg.progress, self.cfg.total_epochs, self.cfg.log_every, labels)
        for line in memory_notes(memory, self.cfg, self.final_hw, device):
            self.progress.note(line)
        if "time_estimate_s" in runs[0].info:
            self.progress.note(time_note(runs[0].info["time_estimate_s"], self.cfg))
        # padding 'mirror': the iterate is a canvas, the image and a margin of this many px on each side (started
        # as the image's mirror, then free), cut off in every output
        self.margin = 0  # at the current level (margin_at)
        self.targets: Targets | None = None
        self.last_x: torch.Tensor | None = None
        self.level = 0

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
        except _NothingActive:  # every sample diverged: their last good images are all there is
            return self._finish("failed", None, self.good_x)
        except KeyboardInterrupt as e:  # Ctrl-C, or SIGTERM (interrupts.terminate_as_interrupt)
            # a second Ctrl-C must not cut the records short; it asks for what is being done already
            with contextlib.suppress(KeyboardInterrupt), deferred_interrupts():
                self._finish("interrupted", describe(e), self.last_x)
            raise Interrupted([str(run.path) for run in self.runs], is_terminated(e)) from None
        except BaseException as e:
            with deferred_interrupts():
                self.progress.close()
                reason = " ".join(f"{e.__class__.__name__}: {e}".split())
                for run in self.runs:
                    if run.status == "running":
                        with contextlib.suppress(OSError):  # a full disk may refuse this too
                            run.finish("failed", reason)
                self.recorder.close(quiet=True)
            raise

    def _prepare(self) -> None:
        cfg = self.cfg
        self.extractor = network(cfg, self.device, torch.float32)
        self.fast = network(cfg, self.device, compute_dtype(self.precision))
        self.weights = LossWeights(
            content=self._per_sample(
                lambda c: c.content_weight * CONTENT_LOSS_CATALOG[c.content_loss].alpha_scale if c.has_content else 0.0
            ),
            style=self._per_sample(lambda c: c.style_weight * STYLE_LOSS_CATALOG[c.style_loss].beta_scale),
            tv=self._per_sample(lambda c: c.tv_weight),
            content_layers=torch.tensor(
                [c.resolved_content_layer_weights() for c in self.configs], device=self.device
            ).reshape(self.batch, len(cfg.content_layers)),
            style_layers=torch.tensor(
                [c.resolved_style_layer_weights() for c in self.configs], device=self.device
            ).reshape(self.batch, len(cfg.style_layers)),
            use_tv=any(c.tv_weight > 0 for c in self.configs),
            normalize_gradients=any(c.normalize_gradients for c in self.configs),
            laplacian=self._per_sample(lambda c: c.laplacian_weight)
            if any(c.laplacian_weight > 0 for c in self.configs)
            else None,
        )

    def _per_sample(self, get: Callable[[Config], float]) -> torch.Tensor:
        return torch.tensor([float(get(c)) for c in self.configs], device=self.device)

    def _content_hw(self, size: int) -> tuple[int, int]:
        return content_hw(self.loaded, size)

    # ---- one resolution level ----------------------------------------------------------------
    def _level(self, level: int, size: int, steps: int, offset: int, previous: torch.Tensor | None) -> torch.Tensor:
        cfg = self.cfg
        image, styles = level_inputs(self.configs, self.loaded, size, self.device)
        hw = (image.shape[-2], image.shape[-1])
        previous_margin, self.margin = self.margin, cfg.margin_at(*hw)
        content = im.mirror_pad(image, self.margin)  # the content on the canvas
        self.targets = full = level_targets(
            self.extractor, self.configs, self.loaded, content, styles, self.memory.tiling, self.margin
        )
        if previous is None and self.start is not None:
            start = im.resize(self.start.to(self.device), hw)
        elif previous is None:
            start = initial_images(self.configs, self.loaded, image, styles)
        else:
            start = im.resize(im.crop_margin(previous, previous_margin), hw)
        x = im.mirror_pad(start, self.margin).contiguous()
        self.last_x = x
        self.level, self.offset, self.level_steps = level, offset, steps
        self.good_x, self.best_x = x.clone(), x.clone()
        self.stopped = [None] * self.batch
        self.stopping = Stopping(
            torch.tensor([c.tolerance for c in self.configs]), torch.tensor([c.tolerance_window for c in self.configs])
        )
        lbfgs = cfg.optimizer == "lbfgs"
        part: dict[str, Any] = {"live": None}

        def objective(images: torch.Tensor, k: int, live: torch.Tensor) -> LossTerms:
            # L-BFGS's first curvature pair must not be bf16 noise: first step in fp32.
            extractor = self.extractor if (lbfgs and k == 0) else self.fast
            targets, weights = full, self.weights
            if live.numel() < self.batch:  # samples have stopped: the others' targets alone
                if part["live"] is None or not torch.equal(part["live"], live):
                    part.update(live=live, **self._part(live, content, styles))
                targets, weights = part["targets"], part["weights"]
            return self._losses(extractor, images, targets, weights, live)

        # the history the memory model allows (config.history unless it had to be capped)
        optimizer = make_optimizer(
            cfg.optimizer,
            self._per_sample(lambda c: c.learning_rate),
            self.memory.history,
            steps,
            history_precision=cfg.history_precision,
        )
        return optimize(x, objective, optimizer, steps, self._on_step)

    def _losses(
        self, extractor: Any, images: torch.Tensor, targets: Targets, weights: LossWeights, live: torch.Tensor | None
    ) -> LossTerms:
        """The step's losses; with a temporal loss of this level's size, its weighted term added to the total."""
        terms = tiled_losses.total_loss(extractor, images, targets, weights, self.memory.tiling)
        if self.temporal is None:
            return terms
        loss, weight = self.temporal
        image = im.crop_margin(images, self.margin)
        if image.shape[-2:] != loss.warped.shape[-2:]:
            return terms
        value = loss(image, live)
        layers = {**terms.layers, "temporal": value}
        return LossTerms(terms.total + weight * value, terms.content, terms.style, terms.tv, layers)

    def _part(self, live: torch.Tensor, content: torch.Tensor, styles: list[list[torch.Tensor]]) -> dict[str, Any]:
        """Targets and weights of the live samples alone, once others have stopped (computed again, no grad)."""
        index = live.tolist()
        targets = level_targets(
            self.extractor,
            [self.configs[i] for i in index],
            [self.loaded[i] for i in index],
            content[live],
            [styles[i] for i in index],
            self.memory.tiling,
            self.margin,
        )
        return {"targets": targets, "weights": self.weights.select(live)}

    # ---- per step: the NaN and divergence guards, convergence, logging, snapshots ----------------
    def _on_step(self, k: int, x: torch.Tensor, terms: LossTerms, live: torch.Tensor) -> torch.Tensor:
        """Sees step k's losses of the live samples before the update; returns which of them go on."""
        if self.stop is not None and self.stop.is_set():
            raise StopRequested
        epoch = self.offset + k
        self.recorder.step(epoch, self.level, terms, live)
        for b in live.tolist():
            self.steps_run[b] += 1
        converged, diverged = self.stopping.update(k, live, terms.total)
        improved = live[(self.stopping.best_at[live.cpu()] == k).to(live.device)]
        self.best_x[improved] = x[improved]
        for b in live[diverged.to(live.device)].tolist():
            self._diverged(b, epoch, x)
        for b in live[converged.to(live.device)].tolist():
            self.stopped[b] = epoch
        last = k == self.level_steps - 1
        save = self.cfg.save_every and epoch % self.cfg.save_every == 0
        report = last or epoch % self.cfg.log_every == 0 or bool(converged.any())
        if save or report:
            x = self._check(x)
            if not bool(self.active.any()):
                raise _NothingActive
            if report:
                self._report(epoch + 1, x)
            if save:
                self.recorder.snapshot(epoch, self._displayed(x), live.tolist())
        self.last_x = x
        return self.active[live] & ~converged.to(live.device)

    def _diverged(self, b: int, epoch: int, x: torch.Tensor) -> None:
        """Sample b's loss blew up (finite): stop it, keep its best or last image as the config says."""
        best, at = float(self.stopping.best[b]), int(self.stopping.best_at[b]) + self.offset
        keep = self.configs[b].on_divergence
        self.failed[b] = (
            f"diverged: the loss stayed above {Stopping.DIVERGED:g}x its best ({best:.3g} at epoch {at}) "
            f"for {Stopping.DIVERGED_STEPS} steps up to epoch {epoch}; kept the {keep} image (on_divergence)"
        )
        self.active[b] = False
        if keep == "best":
            x[b] = self.best_x[b]
        self.good_x[b] = x[b]

    def _check(self, x: torch.Tensor) -> torch.Tensor:
        """Flush the losses; a sample whose loss turned NaN/inf stops and keeps its last good image."""
        for b, epoch in self.recorder.flush(self.active.tolist()).items():
            self.failed[b] = f"non-finite loss at epoch {epoch}; kept the last good image"
            self.active[b] = False
            x[b] = self.good_x[b]
        self.good_x = torch.where(self.active.view(-1, 1, 1, 1), x, self.good_x)
        return x

    def _report(self, done: int, x: torch.Tensor) -> None:
        self.progress.update(done, self.recorder.last_rows(self.active.tolist()))
        if self.on_progress is not None:
            self.on_progress(
                {
                    "epoch": done,
                    "total_epochs": self.cfg.total_epochs,
                    "rows": self.recorder.rows,
                    "image": im.crop_margin(x.detach(), self.margin),
                }
            )

    def _displayed(self, x: torch.Tensor) -> torch.Tensor:
        """What the user sees of the canvas x: the image; with luminance-only transfer, the content's colours."""
        x = im.crop_margin(x.detach(), self.margin)
        out = x.clone()
        for b, (c, img) in enumerate(zip(self.configs, self.loaded)):
            if c.preserve_color == "luminance":
                out[b : b + 1] = im.with_content_colour(x[b : b + 1], img.content.to(x.device))
        return out

    # ---- the end ----------------------------------------------------------------------------------
    def _finish(self, status: str, reason: str | None, x: torch.Tensor | None) -> list[Result]:
        """Final images, losses and records of every run; runs even when the steps were cut short."""
        self.progress.close()
        x = x if x is not None else self.last_x
        outputs: list[tuple[torch.Tensor, dict[str, float], dict[str, float]]] = []
        if x is not None and self.targets is not None:
            x = self._check(x)
            m = self.margin
            final = x.clone()  # the saved image (8 or 16 bits) in the margin it was made in
            im.crop_margin(final, m).copy_(im.quantize(im.crop_margin(x, m), self.cfg.bit_depth))
            with torch.no_grad():  # both in fp32: the saved image and the iterate it was rounded from
                saved = self._losses(self.extractor, final, self.targets, self.weights, None)
                iterate = self._losses(self.extractor, x, self.targets, self.weights, None)
            shown = im.quantize(self._displayed(final), self.cfg.bit_depth)
            for b in range(self.batch):
                # a sample that converged is done, even if the batch was interrupted after
                done = (status == "done" or self.stopped[b] is not None) and not self.failed[b]
                rows = self.recorder.rows[b]
                stopped = self.stopped[b]
                if done:  # a converged sample's image is its iterate at the step it stopped
                    epoch = self.cfg.total_epochs if stopped is None else stopped
                else:
                    epoch = rows[-1]["epoch"] + 1 if rows else 0
                image = shown[b : b + 1].cpu()
                outputs.append((image, *self.recorder.final(b, epoch, self.level, image, saved, iterate)))
        self.recorder.close()
        results = []
        for b, (c, run) in enumerate(zip(self.configs, self.runs)):
            if self.failed[b]:
                state, why = "failed", self.failed[b]
            elif self.stopped[b] is not None:
                state, why = "done", None
            else:
                state, why = status, reason
            image, saved_losses, iterate_losses = outputs[b] if outputs else (torch.empty(0), {}, {})
            history = self.recorder.rows[b]
            if image.numel():
                self.recorder.panel(b, self.loaded[b].content, self.loaded[b].styles, image)
            run.finish(
                state,
                why,
                memory=peak_record(run.info.get("memory", {}), self.device),
                final_losses=saved_losses,
                iterate_losses=iterate_losses,
                epochs_done=history[-1]["epoch"] if history else 0,
                steps_run=self.steps_run[b],
                stopped_at=self.stopped[b],
                stop_reason="converged" if self.stopped[b] is not None else None,
                image_size=list(image.shape[-2:]) if image.numel() else None,
            )
            results.append(Result(image, history, run.path, state, why, saved_losses, c, iterate_losses))
        return results
