"""E_gram / E_loss at the content init: the scale that would give each loss the Gram loss's starting size.

The catalog's beta_scale (nstlib/controls.py) started from these; w2 and mrf now use a fifth and a third of them,
chosen at 512 px by the look and content loss of finished runs (README, "Control and style losses": at equal
start they overpower the content).
Forward only (epochs 0), one batch of the four losses per content × style pair:
    PYTHONPATH=. python bench/style_loss_scale.py 512
    python bench/style_loss_scale.py --smoke         # one pair at 32 px: checks the script
"""

from __future__ import annotations

import sys
import tempfile
import time
from pathlib import Path

from nstlib.config import Config
from nstlib.controls import STYLE_LOSSES
from nstlib.run.transfer import transfer_batch

ROOT = Path(__file__).resolve().parent.parent
PAIRS = [("chelsea", "starry_swirls"), ("astronaut", "cubist_facets"), ("coffee", "ink_mountains")]


def main(size: int, pairs: list[tuple[str, str]] = PAIRS, runs_dir: str = "/tmp/nst-style-loss-scale") -> None:
    for content, style in pairs:
        start = time.time()
        configs = [
            Config(
                content=str(ROOT / f"collections/content/{content}.jpg"),
                style=[str(ROOT / f"collections/style/{style}.jpg")],
                style_loss=kind,
                image_size=size,
                epochs=0,
                video=False,
                save_every=0,
                progress="none",
                runs_dir=runs_dir,
            )
            for kind in STYLE_LOSSES
        ]
        # final_losses["style"] is Σ_l w_l E_l before β: the scale that equalises β·E with the Gram's
        e = [r.final_losses["style"] for r in transfer_batch(configs)]
        scales = {kind: f"{e[0] / v:.3g}" for kind, v in zip(STYLE_LOSSES, e)}
        print(f"{content} × {style} at {size} px: scale {scales} ({time.time() - start:.0f} s)", flush=True)


if __name__ == "__main__":
    if sys.argv[1:] == ["--smoke"]:
        with tempfile.TemporaryDirectory() as runs:
            main(32, PAIRS[:1], runs)
    else:
        main(int(sys.argv[1]) if len(sys.argv) > 1 else 512)
