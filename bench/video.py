"""Video stability: independent frames vs warm start vs the temporal loss, long-term and multi-pass
(Ruder et al., GCPR 2016).

    python bench/video.py                      # the bundled clip, 144 px, 60 steps first / 30 later
    python bench/video.py --weights 1e6,1e7,1e8  # choose temporal_weight
    python bench/video.py --clip OTHER.mp4     # confirm on another clip
    python bench/video.py --previous 1,2,4 --passes 3   # the long-term loss and multi-pass modes
    python bench/video.py --smoke              # CI: 3 frames of 32 px, 2 steps, nothing left behind

Prints, per mode, the warping error of the output (mean over frames of mean c·(x_t − ω(x_{t−1}))²), the mean
per-frame style distance (nstlib.record.metrics gram_distance, lower is closer to the style) and the time and
steps per frame, and the whole video's time estimated up front over its wall time. Run folders go to a
temporary folder, removed at the end.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from nstlib import Config, load_image  # noqa: E402
from nstlib.record.metrics import gram_distance, metric_features  # noqa: E402
from nstlib.run.video_transfer import FRAMES, frame_png, stylize_video  # noqa: E402
from nstlib.videoconfig import VideoConfig  # noqa: E402


def measure(config: Config, video: VideoConfig) -> dict[str, float]:
    record = stylize_video(config, video)
    rows = record.losses()
    frames = int(record.info["frames"])
    style = load_image(config.style[0])
    features = metric_features()
    distances = [
        float(gram_distance(features, load_image(str(frame_png(record.path / FRAMES, i))), style)[0])
        for i in range(frames)
    ]
    steps = sum(1 for r in rows if r["image"] == "iterate")
    return {
        "warping_error": float(record.metrics["warping_error"] or 0.0),
        "style_distance": sum(distances) / frames,
        "s_per_frame": float(record.wall_time_s or 0.0) / frames,
        "steps_per_frame": steps / frames,
        "estimate": float(record.info["time_estimate_s"]) / max(float(record.wall_time_s or 0.0), 1e-9),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clip", default=str(ROOT / "collections/video/chelsea_pan.mp4"))
    parser.add_argument("--style", default=str(ROOT / "collections/style/starry_swirls.jpg"))
    parser.add_argument("--size", type=int, default=144)
    parser.add_argument("--epochs", type=int, default=60)
    parser.add_argument("--later", type=int, default=30)
    parser.add_argument("--frames", type=int, default=12)
    parser.add_argument("--weights", default=str(VideoConfig().temporal_weight), help="temporal weights to try")
    parser.add_argument("--previous", default="1,2,4", help="previous_frames of the long-term mode ('': none)")
    parser.add_argument("--passes", default="3", help="passes of the multi-pass modes, e.g. 3,6 ('': none)")
    parser.add_argument("--keep", help="write the run folders here (kept) instead of a temporary folder")
    parser.add_argument("--smoke", action="store_true", help="3 frames, 32 px, 2 steps (CI)")
    args = parser.parse_args(argv)
    if args.smoke:
        args.size, args.epochs, args.later, args.frames, args.passes = 32, 2, 2, 3, "2"
    with tempfile.TemporaryDirectory() as tmp:
        runs_dir = args.keep or tmp
        config = Config(
            style=[args.style],
            image_size=args.size,
            epochs=args.epochs,
            progress="none",
            save_every=0,
            metrics=False,
            runs_dir=runs_dir,
            precision="fp32",
            device="cpu",
        )
        base = VideoConfig(input=args.clip, later_epochs=args.later, last_frame=args.frames - 1)
        modes = [
            ("independent", {"warm_start": False, "temporal_weight": 0.0}),
            ("warm start", {"temporal_weight": 0.0}),
        ]
        modes += [(f"temporal {float(w):g}", {"temporal_weight": float(w)}) for w in args.weights.split(",")]
        if args.previous:
            modes.append((f"temporal {args.previous}", {"previous_frames": args.previous}))
        modes += [(f"temporal {n} passes", {"passes": int(n)}) for n in args.passes.split(",") if n]
        print(f"clip {Path(args.clip).name}, {args.frames} frames, {args.size} px, steps {args.epochs}/{args.later}")
        print(
            f"{'mode':20s} {'warp err':>10s} {'style dist':>10s} {'s/frame':>8s} {'steps/frame':>11s} {'est/wall':>8s}"
        )
        results = {}
        for name, changes in modes:
            video = VideoConfig(**{**base.to_dict(), **changes})
            r = results[name] = measure(config, video)
            print(
                f"{name:20s} {r['warping_error']:10.3g} {r['style_distance']:10.4g} "
                f"{r['s_per_frame']:8.2f} {r['steps_per_frame']:11.1f} {r['estimate']:8.2f}",
                flush=True,
            )
        ind = results["independent"]
        for name, r in results.items():
            if name.startswith("temporal"):
                print(
                    f"{name}: warping error {ind['warping_error'] / max(r['warping_error'], 1e-12):.2f}x lower than "
                    f"independent, style distance {100 * (r['style_distance'] / ind['style_distance'] - 1):+.1f}%"
                )
    return 0


if __name__ == "__main__":
    sys.exit(main())
