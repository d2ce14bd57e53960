"""Print sizes: '30x40cm', '12x16in', '210x297mm', an ISO paper name ('A4') at a dpi, or pixels ('1920x1080px')."""

from __future__ import annotations

import re

from nstlib.errors import ConfigError

MM_PER_UNIT = {"mm": 1.0, "cm": 10.0, "in": 25.4}
PAPER_MM = {"A2": (420, 594), "A3": (297, 420), "A4": (210, 297), "A5": (148, 210), "A6": (105, 148)}
PATTERN = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*[x×]\s*(\d+(?:\.\d+)?)\s*(mm|cm|in|px)\s*$", re.IGNORECASE)


def print_pixels(text: str, dpi: int) -> tuple[int, int]:
    """(width, height) in pixels of a print of size `text` at `dpi` (rounded to the nearest pixel; a size in px
    is taken as it is, `dpi` then only labels the file); a one-line ConfigError names print_size and the
    accepted forms."""
    paper = PAPER_MM.get(text.strip().upper())
    match = PATTERN.match(text)
    if paper is None and match is None:
        raise ConfigError(
            f"print_size: {text!r} is not WxH with a unit (30x40cm, 12x16in, 210x297mm, 1920x1080px) "
            f"or one of {', '.join(PAPER_MM)}"
        )
    if paper is not None:
        mm = (float(paper[0]), float(paper[1]))
    else:
        assert match is not None
        if match.group(3).lower() == "px":
            pixels = (float(match.group(1)), float(match.group(2)))
            if min(pixels) < 1 or any(not v.is_integer() for v in pixels):
                raise ConfigError(f"print_size: {text!r}: a size in px is whole pixels, at least 1")
            return int(pixels[0]), int(pixels[1])
        scale = MM_PER_UNIT[match.group(3).lower()]
        mm = (float(match.group(1)) * scale, float(match.group(2)) * scale)
    if min(mm) <= 0:
        raise ConfigError(f"print_size: {text!r} has a side of 0")
    return round(mm[0] / 25.4 * dpi), round(mm[1] / 25.4 * dpi)


def check_print(text: str, dpi: int, sizes: list[int]) -> None:
    """A one-line ConfigError for a bad print size, or a `sizes` schedule that does not end at the print."""
    long_side = max(print_pixels(text, dpi))
    if sizes and sizes[-1] != long_side:
        raise ConfigError(
            f"sizes: the last size must be print_size {text}'s long side at dpi {dpi}, {long_side} px "
            f"(it is {sizes[-1]}); or leave sizes empty for a coarse-to-fine schedule"
        )


def oriented(pixels: tuple[int, int], height: int, width: int) -> tuple[int, int]:
    """The print's (width, height) turned to an image of `height` × `width`: a landscape photo makes a landscape
    print of '30x40cm'; a square image keeps the size as written."""
    pw, ph = pixels
    if height != width and pw != ph and (width > height) != (pw > ph):
        return ph, pw
    return pw, ph


def coarse_to_fine(longest: int, smallest: int = 512) -> list[int]:
    """A schedule of sizes halving from `longest` down to about `smallest` px, smallest first."""
    sizes = [longest]
    while sizes[-1] // 2 >= smallest:
        sizes.append(sizes[-1] // 2)
    return sizes[::-1]
