"""The floor: bare VGG-19 forward + backward w.r.t. the input, up to relu5_1, with nstlib's extractor.

    python bench/floor.py --content C.png --size 512 --precision fp32 [--reps 5 --warmup 2 --pooling avg]

The input is the content image at the benchmark's size (longest side `size`, aspect kept), so the
network does the same work as one style transfer step. The extractor is
nstlib.build_extractor("vgg19", "original", <Config's content + style layers>, pooling, "cpu", dtype):
fp32 NCHW, or with --precision bf16 the bf16 channels_last network nstlib runs for precision "bf16".
Backward is of relu5_1's sum, through every layer to the input. Prints one JSON line:
{"precision", "hw", "times_s", "median_s", "faults_per_pass", "heap", "torch", "threads"}.
`--heap`: inside nstlib's heap setting for a whole-image CPU run (`heap_for_run`), which keeps freed
feature maps for the next pass instead of page-faulting them in again (compare the two lines' faults_per_pass).
`--smoke` alone: the bundled chelsea.jpg at 32 px, 1 warm-up, 1 pass (checks the script).
"""

from __future__ import annotations

import argparse
import json
import resource
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import torch  # noqa: E402

import nstlib  # noqa: E402
from nstlib.images import resize_longest  # noqa: E402
from nstlib.run.device_memory import heap_choice, heap_for_run  # noqa: E402


def loss_layers() -> list[str]:
    cfg = nstlib.Config()
    return list(dict.fromkeys(cfg.content_layers + cfg.style_layers))


def measure(
    content: str, size: int, precision: str, reps: int = 5, warmup: int = 2, pooling: str = "avg", heap: bool = False
) -> dict:
    dtype = torch.bfloat16 if precision == "bf16" else torch.float32
    layers = loss_layers()
    extractor = nstlib.build_extractor("vgg19", "original", layers, pooling, "cpu", dtype)
    deepest = extractor.names[-1]
    image = resize_longest(nstlib.load_image(content), size).contiguous()

    def once() -> float:
        x = image.clone().requires_grad_(True)
        start = time.perf_counter()
        out = extractor(x, [deepest])[deepest]
        (grad,) = torch.autograd.grad(out.float().sum(), x)
        elapsed = time.perf_counter() - start
        assert torch.isfinite(grad).all()
        return elapsed

    choice = heap_choice(torch.device("cpu"), keep=True) if heap else None
    with heap_for_run(choice):
        for _ in range(warmup):
            once()
        faults = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
        times = [once() for _ in range(reps)]
        faults = resource.getrusage(resource.RUSAGE_SELF).ru_minflt - faults
    return {
        "precision": precision,
        "hw": list(image.shape[-2:]),
        "layer": deepest,
        "times_s": [round(t, 4) for t in times],
        "median_s": round(statistics.median(times), 4),
        "faults_per_pass": round(faults / reps),
        "heap": choice or "glibc's default",
        "torch": torch.__version__,
        "threads": torch.get_num_threads(),
    }


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--content", help="content image (required unless --smoke)")
    p.add_argument("--size", type=int, help="longest side (required unless --smoke)")
    p.add_argument("--precision", choices=("fp32", "bf16"), default="fp32")
    p.add_argument("--reps", type=int, default=5)
    p.add_argument("--warmup", type=int, default=2)
    p.add_argument("--pooling", choices=("avg", "max"), default="avg")
    p.add_argument("--heap", action="store_true", help="measure inside nstlib's heap setting (heap_for_run)")
    p.add_argument("--smoke", action="store_true", help="bundled chelsea.jpg, 32 px, 1 warm-up, 1 pass")
    a = p.parse_args(argv)
    if a.smoke:
        a.content = a.content or str(ROOT / "collections/content/chelsea.jpg")
        a.size, a.reps, a.warmup = 32, 1, 1
    if a.content is None or a.size is None:
        p.error("--content and --size are required (or --smoke)")
    print(json.dumps(measure(a.content, a.size, a.precision, max(1, a.reps), max(0, a.warmup), a.pooling, a.heap)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
