"""The `nst` command: the only argparse user. Every `nst run` flag is generated from `Config`.

Exit codes: 0 done; 1 a run (or a sweep point) failed; 2 bad input (a parameter, an image, a weights
file, a sweep file, a mistyped flag, a folder in use), one line on stderr; 74 a file could not be
written (disk full, read-only, over quota), one line; 130 Ctrl-C, the run folder marked interrupted;
141 the output pipe was closed (`nst params | head`), quietly.
"""

from __future__ import annotations

import argparse
import dataclasses
import difflib
import errno
import os
import re
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, NoReturn

from nstlib._version import __version__
from nstlib.config import Config, field_default, field_types, fields_by_name, parse_value
from nstlib.errors import NSTError, quoted
from nstlib.interrupts import is_terminated, terminate_as_interrupt
from nstlib.paths import DEFAULT_RUNS_DIR

EXIT_FAILED = 1
EXIT_BAD_INPUT = 2
EXIT_INTERRUPTED = 130
EXIT_TERMINATED = 143  # 128 + SIGTERM, as a shell reports a process the signal killed
EXIT_CANNOT_WRITE = 74  # EX_IOERR (sysexits.h): the disk is full, read-only or over quota
EXIT_BROKEN_PIPE = 141  # 128 + SIGPIPE, as a shell reports a program killed by it
WRITE_ERRNOS = {errno.ENOSPC, errno.EDQUOT, errno.EROFS, errno.EIO, errno.EFBIG}
LINE_BREAKS = re.compile(r"[\n\r\v\f\x1c-\x1e\x85\u2028\u2029]")  # what str.splitlines() splits at


class Parser(argparse.ArgumentParser):
    """argparse with exit code 2 and a "did you mean" for a mistyped option of this (sub)command."""

    def error(self, message: str) -> NoReturn:
        self.print_usage(sys.stderr)
        self.exit(EXIT_BAD_INPUT, f"{self.prog}: error: {message}{self._suggestion(message)}\n")

    def _suggestion(self, message: str) -> str:
        if "unrecognized arguments:" not in message:
            return ""
        options = [s for action in self._actions for s in action.option_strings if s.startswith("--")]
        hints = []
        for word in message.split("unrecognized arguments:", 1)[1].split():
            close = difflib.get_close_matches(word.split("=")[0], options, n=1, cutoff=0.6)
            if word.startswith("-") and close:
                hints.append(close[0])
        return f"; did you mean {' '.join(hints)}?" if hints else ""


def _default_text(value: Any) -> str:
    if isinstance(value, list):
        return ",".join(map(str, value)) or "[]"
    return str(value)


def add_config_flags(parser: argparse.ArgumentParser, exclude: Sequence[str] = ()) -> None:
    """One flag per Config field (`--style-weight`, also `--style_weight`); values stay strings until parsed."""
    types = field_types()
    for f in dataclasses.fields(Config):
        if f.name in exclude:
            continue
        default = field_default(f)
        choices = f.metadata.get("choices")
        help_text = f.metadata.get("help", "")
        if choices:
            help_text += f" (choices: {', '.join(choices)})"
        help_text += f" [default: {_default_text(default)}]"
        help_text = help_text.replace("%", "%%")
        flags = [f"--{f.name.replace('_', '-')}"] + ([f"--{f.name}"] if "_" in f.name else [])
        if types[f.name] is bool:
            parser.add_argument(
                *flags, dest=f.name, action=argparse.BooleanOptionalAction, default=None, help=help_text
            )
        elif f.metadata.get("path") and f.name in ("style", "style_masks", "style_region_masks"):
            parser.add_argument(
                *flags,
                dest=f.name,
                action="append",
                default=None,
                metavar="PATH",
                help=help_text + "; repeat the flag for several styles",
            )
        else:
            metavar = "LIST" if "list" in str(types[f.name]) else f.name.upper().split("_")[-1]
            parser.add_argument(*flags, dest=f.name, default=None, metavar=metavar, help=help_text)


def config_from_args(args: argparse.Namespace, base: dict[str, Any] | None = None) -> Config:
    """Build the Config from parsed flags (only the flags given override `base` / the defaults)."""
    values: dict[str, Any] = dict(base or {})
    for name in fields_by_name():
        raw = getattr(args, name, None)
        if raw is None:
            continue
        if isinstance(raw, list):  # repeated path flag
            values[name] = [p for item in raw for p in parse_value(name, item)]
        elif isinstance(raw, bool):
            values[name] = raw
        else:
            values[name] = parse_value(name, raw)
    return Config(**values)


def parameter_table() -> str:
    """The parameter table of docs/parameters.md, generated from Config."""
    lines = ["| parameter | default | meaning | in the paper |", "|---|---|---|---|"]
    for f in dataclasses.fields(Config):
        default = field_default(f)
        meaning = f.metadata["help"] + (f" ({' / '.join(f.metadata['choices'])})" if f.metadata.get("choices") else "")
        lines.append(
            f"| `{f.name}` | `{_default_text(default)}` | {meaning.replace('|', '/')} | {f.metadata.get('paper', '')} |"
        )
    return "\n".join(lines)


# ---- subcommands ----------------------------------------------------------------------------------
def cmd_run(args: argparse.Namespace) -> int:
    from nstlib.run.transfer import transfer

    result = transfer(config_from_args(args))
    print(f"{result.status}: {result.run_dir}" + (f" ({result.reason})" if result.reason else ""))
    return 0 if result.status == "done" else EXIT_FAILED


def cmd_video(args: argparse.Namespace) -> int:
    from nstlib.run.video_transfer import stylize_video
    from nstlib.videoconfig import VideoConfig

    if args.resume:
        record = stylize_video(resume=args.resume)
    else:
        given = {
            f.name: getattr(args, f.name) for f in dataclasses.fields(VideoConfig) if getattr(args, f.name) is not None
        }
        record = stylize_video(config_from_args(args, {"save_every": 0}), VideoConfig(**given))
    print(f"{record.status}: {record.path}" + (f" ({record.reason})" if record.reason else ""))
    return 0 if record.status == "done" else EXIT_FAILED


def _configure_video(p: argparse.ArgumentParser) -> None:
    from nstlib.videoconfig import VideoConfig

    p.description = (
        "Stylise a video frame by frame with the temporal loss of Ruder et al. (GCPR 2016): a run folder with "
        "frames/, video.mp4 and compare.mp4. Every `nst run` flag applies to each frame."
    )
    for f in dataclasses.fields(VideoConfig):
        if f.name == "input":
            p.add_argument("input", nargs="?", default=None, help=f.metadata["help"])
            continue
        choices = f" (choices: {', '.join(f.metadata['choices'])})" if f.metadata["choices"] else ""
        help_text = f"{f.metadata['help']}{choices} [default: {f.default}]".replace("%", "%%")
        p.add_argument(
            f"--{f.name.replace('_', '-')}", dest=f.name, default=None, metavar=f.name.upper(), help=help_text
        )
    p.add_argument("--resume", metavar="RUN_DIR", help="go on with a video run from its last finished frame")
    add_config_flags(p, exclude=("content", "save_every", "video", "fps"))


def cmd_layers(args: argparse.Namespace) -> int:
    from nstlib.model.layers import layer_table

    for name, channels in layer_table(args.model):
        print(f"{name:10s} {channels:4d} channels")
    return 0


def cmd_params(args: argparse.Namespace) -> int:
    print(parameter_table())
    return 0


def cmd_sweep(args: argparse.Namespace) -> int:
    from nstlib.sweep import sweep

    engine = args.engine or ("dask" if args.scheduler else "inprocess")
    result = sweep(
        args.file,
        set=args.sets,
        engine=engine,
        resume=args.resume,
        rerun_changed=args.rerun_changed,
        batch=args.batch,
        scheduler=args.scheduler,
        workers=args.workers,
        notebook=args.notebook,
        max_points=args.max_points,
        thumbnails=args.thumbnails or None,
    )
    return 0 if result.ok else EXIT_FAILED


def cmd_metrics(args: argparse.Namespace) -> int:
    from nstlib.errors import UserError
    from nstlib.record.metrics import METRIC_NAMES, compute_run_metrics
    from nstlib.record.runs import SAVED, is_run_folder
    from nstlib.sweep.folder import is_sweep_folder, refresh_index
    from nstlib.sweep.spec import load_sweep
    from nstlib.sweep.tradeoff import save_tradeoff

    work: list[tuple[Path, list[Path]]] = []  # (folder given, its run folders) for every path, checked first
    for given in map(Path, args.paths):
        if is_sweep_folder(given):
            work.append((given, [given / p.folder for p in load_sweep(given / "sweep.yaml").points]))
        elif is_run_folder(given):
            work.append((given, [given]))
        else:
            raise UserError(f"{quoted(given)}: not a run folder (config.json) or a sweep folder (sweep.yaml)")
    columns = [name.removesuffix("_distance") for name in METRIC_NAMES]
    print("run", *columns, sep="\t")
    for given, runs in work:
        for run in runs:
            name = str(run.relative_to(given.parent))
            if not (run / SAVED).is_file() and run != given:  # a sweep point that saved no image
                print(name, "no final.png", sep="\t")
                continue
            values = compute_run_metrics(run)
            print(name, *(f"{values[n]:.4g}" if values[n] is not None else "-" for n in METRIC_NAMES), sep="\t")
        sweep = given if is_sweep_folder(given) else given.parent
        if is_sweep_folder(sweep):
            refresh_index(sweep)
            save_tradeoff(sweep)
    return 0


def cmd_explore(args: argparse.Namespace) -> int:
    from nstlib.paths import resolve_output
    from nstlib.ui.explore import serve

    return serve(args.host, args.port, not args.no_browser, resolve_output(args.runs_dir))


def _configure_explore(p: argparse.ArgumentParser) -> None:
    p.description = (
        "Serve the explorer (pick images, set parameters, Run/Stop, live preview) as a web page with Voilà. "
        "It runs whatever paths the page is given: keep it on 127.0.0.1 unless the network is trusted."
    )
    p.add_argument("--port", type=int, default=8866, help="TCP port; 0: a free one [default: 8866]")
    p.add_argument(
        "--host",
        default="127.0.0.1",
        help="address to listen on; 0.0.0.0 exposes it to the network [default: 127.0.0.1]",
    )
    p.add_argument("--no-browser", action="store_true", help="only print the URL, do not open a browser")
    p.add_argument(
        "--runs-dir",
        default=DEFAULT_RUNS_DIR,
        help="where run folders go, relative to the current directory [default: the checkout's runs/]",
    )


def _configure_sweep(p: argparse.ArgumentParser) -> None:
    p.description = (
        "Run a sweep file (see sweeps/): the cartesian product of its axes, one run folder per "
        "point inside one sweep folder, index.csv/index.jsonl after every point, grid.png and tradeoff.png at "
        "the end (docs/sweeps.md; sampled axes and search: sweeps too). Exit 0 if every point succeeded, 1 if "
        "some failed, 2 for bad input."
    )
    p.add_argument("file", nargs="?", metavar="FILE", help="sweep YAML; optional with --resume")
    p.add_argument(
        "--set",
        dest="sets",
        action="append",
        default=[],
        metavar="NAME=VALUE",
        help="override a base parameter for every point (repeatable), e.g. --set image_size=128",
    )
    p.add_argument(
        "--engine",
        choices=("inprocess", "papermill", "dask"),
        default=None,
        help="inprocess (default; compatible points batched), papermill (each point executes "
        "notebooks/style_transfer.ipynb) or dask (points as tasks on a cluster)",
    )
    p.add_argument(
        "--scheduler",
        metavar="ADDRESS",
        help="dask scheduler to use (tcp://host:8786); implies --engine dask; default: a LocalCluster",
    )
    p.add_argument("--workers", type=int, default=2, metavar="N", help="LocalCluster worker processes [default: 2]")
    p.add_argument("--resume", metavar="SWEEP_DIR", help="rerun the points of SWEEP_DIR not marked done")
    p.add_argument(
        "--rerun-changed",
        action="store_true",
        help="with --resume: also rerun done points whose recorded config differs from SWEEP_DIR/sweep.yaml "
        "(edited since); without it such a resume is refused",
    )
    p.add_argument(
        "--no-batch",
        dest="batch",
        action="store_false",
        help="in-process/dask: run points one at a time instead of batching compatible ones",
    )
    p.add_argument(
        "--max-points",
        type=int,
        default=1000,
        metavar="N",
        help="refuse a sweep of more than N points (every point is a run folder) [default: 1000]",
    )
    p.add_argument(
        "--thumbnails",
        action="store_true",
        help="put each point's final.png beside its marker in tradeoff.png (sweep file: tradeoff: {thumbnails: true})",
    )
    p.add_argument(
        "--notebook",
        metavar="PATH",
        help="papermill engine: notebook to execute [default: notebooks/style_transfer.ipynb]",
    )


def build_parser() -> Parser:
    parser = Parser(
        prog="nst",
        description="NST Lab: neural style transfer (Gatys et al., CVPR 2016) experiments.",
        epilog="One L-BFGS step (epoch) is one forward + backward pass. Run folders go to runs/.",
    )
    parser.add_argument("--version", action="version", version=f"nst {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True, parser_class=Parser)
    commands: list[tuple[str, str, Callable[[argparse.ArgumentParser], None], Callable[[argparse.Namespace], int]]] = [
        ("run", "run one style transfer experiment", _configure_run, cmd_run),
        ("sweep", "run a parameter sweep from a YAML file (see sweeps/)", _configure_sweep, cmd_sweep),
        ("video", "stylise a video with a temporal loss (Ruder et al.)", _configure_video, cmd_video),
        ("layers", "list the VGG layer names", _configure_layers, cmd_layers),
        ("params", "print the parameter table (Markdown)", lambda p: None, cmd_params),
        ("metrics", "score finished runs or sweeps (metrics.json, index.csv)", _configure_metrics, cmd_metrics),
        ("explore", "serve the interactive explorer as a web page (Voilà)", _configure_explore, cmd_explore),
    ]
    for name, help_text, configure, fn in commands:
        p = sub.add_parser(name, help=help_text)
        configure(p)
        p.set_defaults(func=fn)
    return parser


def _configure_run(p: argparse.ArgumentParser) -> None:
    p.description = "Run one experiment; every parameter has a flag (lists are comma-separated)."
    add_config_flags(p)


def _configure_metrics(p: argparse.ArgumentParser) -> None:
    p.description = (
        "Compute (or refresh) the quality metrics of finished runs (docs/metrics.md): for each run folder, or "
        "every point of a sweep folder, metrics.json and config.json's `metrics` from final.png and the run's "
        "content and style images, then the sweep's index.csv and tradeoff.png; prints one tab-separated row per run."
    )
    p.add_argument("paths", nargs="+", metavar="PATH", help="a run folder or a sweep folder")


def _configure_layers(p: argparse.ArgumentParser) -> None:
    p.add_argument("--model", default="vgg19", choices=["vgg19", "vgg16"])


def _parse(parser: Parser, argv: Sequence[str] | None) -> argparse.Namespace:
    """Parse; unknown options are reported by the subcommand they were given to, with its usage."""
    args, extra = parser.parse_known_args(argv)
    if extra:
        subparsers = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
        subparsers.choices[args.command].error(f"unrecognized arguments: {' '.join(extra)}")
    return args


def say_error(text: str) -> None:
    """One line on stderr whatever `text` holds: messages quote the paths they name, and this is the last
    guard, escaping any line break a message still carries (a path from an OS error, a server's reason)."""
    print(LINE_BREAKS.sub(lambda m: repr(m.group())[1:-1], text), file=sys.stderr)


def main(argv: Sequence[str] | None = None) -> int:
    try:
        args = _parse(build_parser(), argv)
        try:
            with terminate_as_interrupt():
                return int(args.func(args) or 0)
        except NSTError as e:
            say_error(f"nst: error: {e}")
            return EXIT_BAD_INPUT
        except KeyboardInterrupt as e:  # Ctrl-C or SIGTERM
            folders = getattr(e, "folders", [])
            where = f"{', '.join(folders)} keeps what was made (status interrupted)" if folders else "nothing written"
            terminated = is_terminated(e)
            say_error(f"nst: {'terminated (SIGTERM)' if terminated else 'interrupted'}; {where}")
            return EXIT_TERMINATED if terminated else EXIT_INTERRUPTED
        except OSError as e:
            if e.errno not in WRITE_ERRNOS:
                raise
            where = quoted(Path(e.filename).parent) if e.filename else "a file"
            say_error(
                f"nst: error: cannot write in {where}: {e.strerror}; runs there are marked failed where "
                "that could still be written"
            )
            return EXIT_CANNOT_WRITE
    except BrokenPipeError:
        # the reader went away (`nst params | head`): no traceback, and none at exit when Python flushes stdout
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        return EXIT_BROKEN_PIPE


if __name__ == "__main__":
    sys.exit(main())
