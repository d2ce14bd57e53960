import json
import warnings

import pytest
import torch

from nstlib import device as dev
from nstlib import transfer

from conftest import ROOT

STYLE = str(ROOT / "collections/style/starry_swirls.jpg")

# Where the CPU has no bf16 instructions (AVX2-only EPYC) torch emulates bf16 ~18x slower than fp32
# and the full-size checks below took most of a 13-minute suite (FACTS.md), so there they run on
# 32 px, fewer steps and two photos. That still fails a broken bf16 path (checked by breaking it:
# bf16 features rounded to 8-bit floats end 80x (Adam) and 150-390x (L-BFGS) worse than fp32;
# features 3% too large end Adam 1.025x). Where bf16 is native the full sizes run.
EMULATED = dev.cpu_bf16_emulated()
ADAM = dict(image_size=32, epochs=30) if EMULATED else dict(image_size=64, epochs=60)
LBFGS = dict(image_size=32, epochs=40) if EMULATED else dict(image_size=64, epochs=100)
LBFGS_PHOTOS = ("chelsea", "rocket") if EMULATED else ("chelsea", "rocket", "coffee", "astronaut")
bf16_quiet = pytest.mark.filterwarnings("ignore:precision 'bf16'")  # the emulation warning, tested below


def test_auto_precision_follows_hardware(monkeypatch):
    cpu = torch.device("cpu")
    monkeypatch.setattr(dev, "cpu_bf16_emulated", lambda: False)
    monkeypatch.setattr(dev, "cpu_has_amx", lambda: True)
    assert dev.resolve_precision("auto", cpu) == "bf16"
    monkeypatch.setattr(dev, "cpu_has_amx", lambda: False)
    assert dev.resolve_precision("auto", cpu) == "fp32"
    assert dev.resolve_precision("bf16", cpu) == "bf16"
    assert dev.resolve_precision("auto", torch.device("mps")) == "fp32"


@pytest.mark.parametrize(
    "flags, emulated",
    [
        ({"avx2", "fma"}, True),  # AMD EPYC, AVX2 only
        ({"avx2", "avx512f", "avx512_bf16"}, False),  # Xeon without AMX
        ({"avx512f", "amx_tile", "amx_bf16"}, False),  # Xeon with AMX
        ({"fp", "asimd", "bf16"}, False),  # ARM with bf16 ('Features' line)
        (set(), False),  # unknown: assume nothing, warn about nothing
    ],
)
def test_cpu_bf16_emulated_from_flags(monkeypatch, flags, emulated):
    monkeypatch.setattr(dev, "_cpu_flags", lambda: frozenset(flags))
    assert dev.cpu_bf16_emulated() is emulated


def _precision_warnings(calls: list[str], device: str = "cpu") -> list[str]:
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")  # so only nstlib's own once-guard can drop a repeat
        for precision in calls:
            dev.resolve_precision(precision, torch.device(device))
    return [str(w.message) for w in caught]


def test_explicit_bf16_on_emulating_cpu_warns_once(monkeypatch):
    monkeypatch.setattr(dev, "cpu_bf16_emulated", lambda: True)
    monkeypatch.setattr(dev, "_warned_bf16_emulated", False)
    messages = _precision_warnings(["bf16", "bf16", "fp32", "bf16"])
    assert len(messages) == 1, messages
    assert "emulated" in messages[0] and "\n" not in messages[0]


def test_no_bf16_warning_where_native_or_not_asked(monkeypatch):
    monkeypatch.setattr(dev, "_warned_bf16_emulated", False)
    monkeypatch.setattr(dev, "cpu_bf16_emulated", lambda: False)
    assert _precision_warnings(["bf16", "auto"]) == []
    monkeypatch.setattr(dev, "cpu_bf16_emulated", lambda: True)
    monkeypatch.setattr(dev, "cpu_has_amx", lambda: False)
    assert _precision_warnings(["auto", "fp32"]) == []  # auto never picks an emulated bf16
    assert _precision_warnings(["bf16"], device="meta") == []  # only the CPU's own bf16 is checked


@bf16_quiet
def test_bf16_adam_ends_no_more_than_2_percent_above_fp32(tmp_path, original_weights):
    """bf16 must not cost quality: its result's paper loss (evaluated in fp32 on the saved image) is at most
    2% above fp32's. It may end lower: with the mirror padding, rocket 64 px × 60 Adam steps ends 0.944× fp32's
    (0.990× with zero padding), a different path, not a worse one."""
    common = dict(
        content=str(ROOT / "collections/content/rocket.jpg"),
        style=[STYLE],
        **ADAM,
        save_every=0,
        progress="none",
        runs_dir=str(tmp_path),
        device="cpu",
        optimizer="adam",
        lr=0.02,
    )
    fp32 = transfer(precision="fp32", **common)
    bf16 = transfer(precision="bf16", **common)
    assert bf16.final_losses["total"] <= 1.02 * fp32.final_losses["total"]
    info = json.loads((bf16.run_dir / "config.json").read_text())
    assert info["precision"] == "bf16" and info["config"]["precision"] == "bf16"


@bf16_quiet
def test_bf16_lbfgs_within_2_percent_of_fp32_on_average(tmp_path, original_weights):
    """Single L-BFGS runs without line search are chaotic (fp32 with 1 vs 2 threads already ends
    0.99–1.01× apart; bf16 0.97–1.02× here), so the 2% claim is checked on the mean over the bundled
    photos, and no photo may end more than 5% worse in bf16."""
    ratios = []
    for name in LBFGS_PHOTOS:
        common = dict(
            content=str(ROOT / f"collections/content/{name}.jpg"),
            style=[STYLE],
            **LBFGS,
            save_every=0,
            progress="none",
            runs_dir=str(tmp_path),
            device="cpu",
        )
        fp32 = transfer(precision="fp32", **common)
        bf16 = transfer(precision="bf16", **common)
        ratios.append(bf16.final_losses["total"] / fp32.final_losses["total"])
    assert sum(ratios) / len(ratios) == pytest.approx(1.0, abs=0.02), ratios
    assert max(ratios) <= 1.05, ratios
