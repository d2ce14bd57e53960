import json

import pytest
import torch

from nstlib import device as dev
from nstlib import transfer

from conftest import ROOT

CONTENT = str(ROOT / "collections/content/chelsea.jpg")
STYLE = str(ROOT / "collections/style/starry_swirls.jpg")


def test_auto_precision_follows_hardware(monkeypatch):
    cpu = torch.device("cpu")
    monkeypatch.setattr(dev, "cpu_has_amx", lambda: True)
    assert dev.resolve_precision("auto", cpu) == "bf16"
    monkeypatch.setattr(dev, "cpu_has_amx", lambda: False)
    assert dev.resolve_precision("auto", cpu) == "fp32"
    assert dev.resolve_precision("bf16", cpu) == "bf16"
    assert dev.resolve_precision("auto", torch.device("mps")) == "fp32"


def test_bf16_run_ends_within_2_percent_of_fp32(tmp_path, original_weights):
    common = dict(content=CONTENT, style=[STYLE], image_size=64, epochs=20, save_every=0, progress="none",
                  runs_dir=str(tmp_path), device="cpu")
    fp32 = transfer(precision="fp32", **common)
    bf16 = transfer(precision="bf16", **common)
    assert bf16.final_losses["total"] == pytest.approx(fp32.final_losses["total"], rel=0.02)
    info = json.loads((bf16.run_dir / "config.json").read_text())
    assert info["precision"] == "bf16" and info["config"]["precision"] == "bf16"
