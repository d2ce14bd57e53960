"""The `nst` command. Every `nst run` flag is generated from `Config`, so flags and parameters never drift.

Bad input (a parameter, an image, a weights file, a sweep file) is one line on stderr and exit 2.
"""
from __future__ import annotations

import argparse
import dataclasses
import sys
from typing import Any, Callable, Sequence

from .config import Config, ConfigError, field_default, field_types, fields_by_name, parse_value

EXIT_BAD_INPUT = 2
EXIT_INTERRUPTED = 130


class UserError(Exception):
    """Anything the user can fix; printed as one line, exit 2."""


def _user_errors() -> tuple[type[BaseException], ...]:
    from .images import ImageError
    from .vgg import WeightsError

    return ConfigError, ImageError, WeightsError, UserError, FileNotFoundError


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
        flags = [f"--{f.name.replace('_', '-')}"] + ([f"--{f.name}"] if "_" in f.name else [])
        if types[f.name] is bool:
            parser.add_argument(*flags, dest=f.name, action=argparse.BooleanOptionalAction, default=None, help=help_text)
        elif f.metadata.get("path") and f.name == "style":
            parser.add_argument(*flags, dest=f.name, action="append", default=None, metavar="PATH",
                                help=help_text + "; repeat the flag for several styles")
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


# ---- subcommands ----------------------------------------------------------------------------------
def cmd_run(args: argparse.Namespace) -> int:
    from .transfer import transfer

    config = config_from_args(args)
    result = transfer(config)
    print(f"{result.status}: {result.run_dir}" + (f" ({result.reason})" if result.reason else ""))
    return 0 if result.status == "done" else 1


def cmd_layers(args: argparse.Namespace) -> int:
    from .layers import layer_table

    for name, channels in layer_table(args.model):
        print(f"{name:10s} {channels:4d} channels")
    return 0


def cmd_params(args: argparse.Namespace) -> int:
    print(parameter_table())
    return 0


def parameter_table() -> str:
    """The README's parameter table, generated from Config."""
    lines = ["| parameter | default | meaning | in the paper |", "|---|---|---|---|"]
    for f in dataclasses.fields(Config):
        default = field_default(f)
        meaning = f.metadata["help"] + (f" ({' / '.join(f.metadata['choices'])})" if f.metadata.get("choices") else "")
        lines.append(f"| `{f.name}` | `{_default_text(default)}` | {meaning.replace('|', '/')} | {f.metadata.get('paper', '')} |")
    return "\n".join(lines)


Command = Callable[[argparse.Namespace], int]
SUBCOMMANDS: dict[str, tuple[str, Callable[[argparse.ArgumentParser], None], Command]] = {}


def subcommand(name: str, help: str, configure: Callable[[argparse.ArgumentParser], None]) -> Callable[[Command], Command]:
    def register(fn: Command) -> Command:
        SUBCOMMANDS[name] = (help, configure, fn)
        return fn
    return register


def build_parser() -> argparse.ArgumentParser:
    from . import __version__

    parser = argparse.ArgumentParser(
        prog="nst", description="NST Lab: neural style transfer (Gatys et al., CVPR 2016) experiments.",
        epilog="One L-BFGS step (epoch) is one forward + backward pass. Run folders go to runs/.")
    parser.add_argument("--version", action="version", version=f"nst {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    run = sub.add_parser("run", help="run one style transfer experiment",
                         description="Run one experiment; every parameter has a flag (lists are comma-separated).")
    add_config_flags(run)
    run.set_defaults(func=cmd_run)
    layers = sub.add_parser("layers", help="list the VGG layer names")
    layers.add_argument("--model", default="vgg19", choices=["vgg19", "vgg16"])
    layers.set_defaults(func=cmd_layers)
    params = sub.add_parser("params", help="print the parameter table (Markdown)")
    params.set_defaults(func=cmd_params)
    _load_plugins()
    for name, (help_text, configure, fn) in SUBCOMMANDS.items():
        p = sub.add_parser(name, help=help_text)
        configure(p)
        p.set_defaults(func=fn)
    return parser


def _load_plugins() -> None:
    """Modules that add subcommands register them on import."""
    import importlib

    for module in ("nstlib.sweep",):
        try:
            importlib.import_module(module)
        except ModuleNotFoundError as e:
            if e.name != module:
                raise


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return int(args.func(args) or 0)
    except _user_errors() as e:
        print(f"nst: error: {e}", file=sys.stderr)
        return EXIT_BAD_INPUT
    except KeyboardInterrupt:
        print("nst: interrupted; the run folder keeps what was made so far (status 'interrupted')", file=sys.stderr)
        return EXIT_INTERRUPTED


if __name__ == "__main__":
    sys.exit(main())
