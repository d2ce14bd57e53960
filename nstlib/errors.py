"""Errors a user can fix. The CLI prints any `NSTError` as one line and exits 2; nothing else does."""

from __future__ import annotations


class NSTError(Exception):
    """Bad input: the message names the parameter or file and the cause, in one line."""


class ConfigError(NSTError, ValueError):
    """An invalid parameter value; the message names the parameter and what it accepts."""


class ImageError(NSTError, ValueError):
    """An image that cannot be used; the message names the file and the cause."""


class WeightsError(NSTError, RuntimeError):
    """VGG weights that cannot be found, read or used."""


class UserError(NSTError):
    """Any other fixable input: a sweep file, a command-line option, a folder."""


def quoted(path: object) -> str:
    """A path or URL as an error message shows it: quoted, a newline or other control character escaped,
    so the message stays one line whatever the name holds."""
    return repr(str(path))
