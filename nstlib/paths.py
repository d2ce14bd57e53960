"""Where paths resolve, in one rule (docs, "Using it").

- Inputs (content, style, init images): as given — a URL, an absolute path, or a path relative to
  the current directory — else relative to the source checkout, so `collections/...` works from any
  folder (notebooks run from notebooks/).
- Outputs (`runs_dir`): a value given, "runs" included, is relative to the current directory; the
  default (empty: none given) is the checkout's runs/ when NST Lab runs from a source checkout, else ./runs.
"""

from __future__ import annotations

import os
from pathlib import Path

DEFAULT_RUNS_DIR = ""  # none given: only then may the checkout's runs/ be meant
RUNS = "runs"


def source_root() -> Path | None:
    """The source checkout holding this package (it has pyproject.toml and collections/), else None."""
    root = Path(__file__).resolve().parent.parent
    return root if (root / "pyproject.toml").is_file() and (root / "collections").is_dir() else None


def is_url(path: str) -> bool:
    return str(path).startswith(("http://", "https://"))


def url_stem(path: str) -> str:
    """The file stem of a path or URL without its query: 'starry_night' for '.../starry_night.jpg?x=1'."""
    return Path(str(path).split("?")[0]).stem


def resolve_input(path: str) -> str:
    """An input image path per the rule above; a path found nowhere is returned as given (the loader says so)."""
    if not path or is_url(path):
        return path
    given = Path(path).expanduser()
    if given.is_absolute() or given.exists():
        return str(given)
    root = source_root()
    if root is not None and (root / given).exists():
        return str(root / given)
    return str(given)


def resolve_output(runs_dir: str | os.PathLike[str]) -> Path:
    """The folder that `runs_dir` names, per the rule above."""
    if str(runs_dir) == DEFAULT_RUNS_DIR:
        root = source_root()
        return root / RUNS if root is not None else Path(RUNS)
    return Path(runs_dir).expanduser()


def project_file(relative: str) -> Path | None:
    """A file of the source checkout (a notebook, a sweep file), or None outside a checkout."""
    root = source_root()
    return root / relative if root is not None else None
