"""Quality check: the paper's loss (Gatys et al., Eq. 7) of finished images, evaluated by nstlib in fp32.

    python bench/quality.py --content C --style S --size N [--pooling avg] IMAGE.png ...

Same layers and weights as nstlib.Config's defaults (relu4_2 content; relu1_1 … relu5_1 style,
w_l = 1/5; alpha = 1, beta = 1e3), targets from the content image resized to longest side N and the
style image resized to longest side N·style_scale, with the style Gram rescaled by M_gen/M_style as
nstlib does (nstlib/run/transfer.py `_targets`). An image whose size differs from the content's is
resized to it first (reported). Prints one JSON line per image.
`--smoke` alone: the bundled chelsea.jpg × starry_swirls.jpg at 32 px, scoring the content photo itself.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import torch  # noqa: E402

import nstlib  # noqa: E402
from nstlib.images import resize, resize_longest, scaled_size  # noqa: E402
from nstlib.losses.core import LossWeights, Targets, total_loss  # noqa: E402
from nstlib.losses.style.gram import gram_matrix  # noqa: E402


class PaperLoss:
    """Targets and weights of one (content, style, size) case; call it on image files or tensors."""

    def __init__(self, content: str, style: str, size: int, pooling: str = "avg", **config: Any):
        self.cfg = cfg = nstlib.Config(content=content, style=[style], image_size=size, pooling=pooling, **config)
        layers = list(dict.fromkeys(cfg.content_layers + cfg.style_layers))
        self.extractor = nstlib.build_extractor(cfg.model, cfg.weights, layers, cfg.pooling, "cpu", torch.float32)
        raw = nstlib.load_image(content)
        self.hw = scaled_size(raw.shape[-2], raw.shape[-1], size)
        self.content = resize(raw, self.hw)
        style_img = resize_longest(nstlib.load_image(style), max(16, round(size * cfg.style_scale)))
        with torch.no_grad():
            content_feats = self.extractor(self.content, cfg.content_layers)
            probe = self.extractor(self.content, cfg.style_layers)
            style_feats = self.extractor(style_img, cfg.style_layers)
        grams = {}
        for layer in cfg.style_layers:
            f, p = style_feats[layer], probe[layer]
            grams[layer] = (p.shape[2] * p.shape[3]) / (f.shape[2] * f.shape[3]) * gram_matrix(f)
        self.targets = Targets({k: v.float() for k, v in content_feats.items()}, grams)
        one = lambda v: torch.tensor([float(v)])  # noqa: E731
        self.weights = LossWeights(
            one(cfg.content_weight),
            one(cfg.style_weight),
            one(cfg.tv_weight),
            torch.tensor([cfg.resolved_content_layer_weights()]),
            torch.tensor([cfg.resolved_style_layer_weights()]),
            use_tv=cfg.tv_weight > 0,
        )

    @torch.no_grad()
    def of_tensor(self, image: torch.Tensor) -> dict[str, float]:
        terms = total_loss(self.extractor(image), image, self.targets, self.weights)
        return {k: float(v[0]) for k, v in terms.columns().items()}

    def of_file(self, path: str | Path) -> dict[str, Any]:
        image = nstlib.load_image(str(path))
        resized = tuple(image.shape[-2:]) != tuple(self.hw)
        if resized:
            image = resize(image, self.hw)
        return {"image": str(path), "hw": list(self.hw), "resized": resized, **self.of_tensor(image)}


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--content", help="content image (required unless --smoke)")
    p.add_argument("--style", help="style image (required unless --smoke)")
    p.add_argument("--size", type=int, help="longest side (required unless --smoke)")
    p.add_argument("--pooling", choices=("avg", "max"), default="avg")
    p.add_argument("--smoke", action="store_true", help="bundled pair at 32 px, scoring the content photo")
    p.add_argument("images", nargs="*")
    a = p.parse_args(argv)
    if a.smoke:
        a.content = a.content or str(ROOT / "collections/content/chelsea.jpg")
        a.style = a.style or str(ROOT / "collections/style/starry_swirls.jpg")
        a.size, a.images = 32, a.images or [a.content]
    if a.content is None or a.style is None or a.size is None or not a.images:
        p.error("--content, --style, --size and at least one image are required (or --smoke)")
    loss = PaperLoss(a.content, a.style, a.size, a.pooling)
    for path in a.images:
        print(json.dumps(loss.of_file(path)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
