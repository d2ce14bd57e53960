"""Frames along the edges: the edge score (nstlib.record.metrics) of results per padding (zeros and mirror by default).

    python bench/edges.py                         # 12 pairs, 200-333 px, portrait and landscape, β 1e3-1e5, 60 steps
    python bench/edges.py --margins 4,6,8          # the mirror canvas's margin (Config's MARGIN) compared
    python bench/edges.py --cases 0,3 --steps 300                # the default epochs: frames can grow with the steps
    python bench/edges.py --cases 1,3,5 --paddings circular        # any of Config's paddings
    python bench/edges.py --smoke                  # CI: one 64 px pair, 2 steps (checks the script)

Pairs are the bundled collection's and, where present, the classic Gatys images in ../shared/images
(not part of the project). A portrait case is the centre 2:3 crop of a landscape photo. Prints one row
per pair and padding: the content's own score (a photo's side can cut through an object), the
result's score per side and its worst, and the run's seconds.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import nstlib
import nstlib.config
from nstlib.images import resize_longest
from nstlib.record.artefacts import SIDES, edge_scores

ROOT = Path(__file__).resolve().parent.parent
CONTENT, STYLE = ROOT / "collections/content", ROOT / "collections/style"
SHARED = ROOT.parent / "shared/images"
CASES = [  # content, style, longest side, β, portrait crop
    (SHARED / "tubingen.jpg", SHARED / "starry_night.jpg", 200, 1e4, False),
    (CONTENT / "chelsea.jpg", STYLE / "cubist_facets.jpg", 333, 1e5, False),
    (CONTENT / "coffee.jpg", STYLE / "ink_mountains.jpg", 200, 1e3, True),
    (CONTENT / "rocket.jpg", STYLE / "pointillist_sunset.jpg", 333, 1e4, False),
    (CONTENT / "astronaut.jpg", STYLE / "stained_glass.jpg", 256, 1e5, False),
    (SHARED / "tubingen.jpg", SHARED / "shipwreck.jpg", 333, 1e4, True),
    (CONTENT / "chelsea.jpg", STYLE / "starry_swirls.jpg", 200, 1e5, True),
    (CONTENT / "coffee.jpg", SHARED / "starry_night.jpg", 333, 1e3, False),
    (CONTENT / "astronaut.jpg", STYLE / "ink_mountains.jpg", 333, 1e5, True),
    (CONTENT / "rocket.jpg", STYLE / "starry_swirls.jpg", 200, 1e3, True),
    (SHARED / "tubingen.jpg", STYLE / "cubist_facets.jpg", 256, 1e5, False),
    (CONTENT / "chelsea.jpg", STYLE / "pointillist_sunset.jpg", 333, 1e4, True),
]


def content_image(path: Path, size: int, portrait: bool, work: Path) -> Path:
    """The content at its final size (so the run resizes nothing), saved as PNG."""
    image = nstlib.load_image(str(path))
    if portrait:
        w = image.shape[-2] * 2 // 3
        left = (image.shape[-1] - w) // 2
        image = image[..., left : left + w]
    out = work / f"{path.stem}{'_portrait' if portrait else ''}_{size}.png"
    nstlib.save_image(resize_longest(image, size), out)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cases", default="", help="comma-separated case numbers (default: all found)")
    parser.add_argument("--steps", type=int, default=60)
    parser.add_argument("--margins", default="", help="mirror margins to compare (default: Config's)")
    parser.add_argument("--paddings", default="zeros,mirror", help="comma-separated paddings to run [zeros,mirror]")
    parser.add_argument("--smoke", action="store_true", help="one 64 px pair, 2 steps: checks the script")
    args = parser.parse_args()
    cases = [(CONTENT / "chelsea.jpg", STYLE / "starry_swirls.jpg", 64, 1e4, False)] if args.smoke else CASES
    chosen = [int(i) for i in args.cases.split(",")] if args.cases else range(len(cases))
    steps = 2 if args.smoke else args.steps
    margins = [int(m) for m in args.margins.split(",")] if args.margins else [nstlib.config.MARGIN]
    paddings = args.paddings.split(",")
    for padding in paddings:
        try:
            nstlib.Config(padding=padding).validate()
        except nstlib.ConfigError as e:
            parser.error(f"--paddings: {e}")
    modes = [(p, m) for p in paddings for m in (margins if p == "mirror" else [0])]
    work = Path(tempfile.mkdtemp(prefix="nst-edges-"))
    print(f"| case | pair | px (h×w) | β | padding | content | {' | '.join(SIDES)} | worst | s |")
    print("|---|---|---|---|---|---|" + "---|" * len(SIDES) + "---|---|")
    worst: dict[str, float] = {}
    for i in chosen:
        content, style, size, beta, portrait = cases[i]
        if not (content.is_file() and style.is_file()):
            print(f"| {i} | skipped: {content.name} or {style.name} not found |")
            continue
        path = content_image(content, size, portrait, work)
        base = nstlib.load_image(str(path))
        own = max(edge_scores(base).values())
        for padding, margin in modes:
            nstlib.config.MARGIN = margin or nstlib.config.MARGIN
            start = time.perf_counter()
            result = nstlib.transfer(
                content=str(path),
                style=[str(style)],
                image_size=size,
                style_weight=beta,
                epochs=steps,
                padding=padding,
                runs_dir=str(work / "runs"),
                save_every=0,
                video=False,
                tensorboard=False,
                progress="none",
                precision="fp32",
            )
            seconds = time.perf_counter() - start
            image = result.image[0]
            used = result.config.margin_at(*image.shape[-2:])
            label = f"mirror {used} px" if padding == "mirror" else padding
            scores = edge_scores(image)
            worst[label] = max(worst.get(label, 0.0), max(scores.values()))
            h, w = image.shape[-2:]
            print(
                f"| {i} | {content.stem}{' (portrait)' if portrait else ''}:{style.stem} | {h}×{w} | {beta:g} | "
                f"{label} | {own:.2f} | {' | '.join(f'{scores[s]:.2f}' for s in SIDES)} | "
                f"**{max(scores.values()):.2f}** | {seconds:.0f} |",
                flush=True,
            )
    print("\nworst over the pairs: " + ", ".join(f"{k} {v:.2f}" for k, v in worst.items()))


if __name__ == "__main__":
    main()
