import json
import warnings

import pytest
import torch

from nstlib.model import device as dev
from nstlib import transfer

from conftest import ROOT

STYLE = str(ROOT / "collections/style/starry_swirls.jpg")

# One size on every machine: where bf16 is emulated (AVX2-only CPUs) it runs ~20x slower than fp32, so the
# bf16 runs are small everywhere. That still fails a broken bf16 path (checked by breaking it: bf16 features
# rounded to 8-bit floats end 80x (Adam) and 150-390x (L-BFGS) worse than fp32; features 3% too large end
# Adam 1.025x).
ADAM = dict(image_size=32, epochs=20)
LBFGS = dict(image_size=32, epochs=40)
LBFGS_PHOTOS = ("chelsea", "rocket", "coffee", "astronaut")
bf16_quiet = pytest.mark.filterwarnings("ignore:precision 'bf16'")  # the slow-bf16 warning, tested below
CPU = torch.device("cpu")


def _timed(monkeypatch, fp32: float, bf16: float | None) -> list[int]:
    """Make the probe report these times; returns a list that counts the measurements made."""
    calls: list[int] = []

    def measure(device):
        calls.append(1)
        return dev.PrecisionTiming(dev.device_key(device), fp32, bf16)

    monkeypatch.setattr(dev, "measure_precision", measure)
    dev.precision_timing.cache_clear()
    return calls


@pytest.fixture
def fresh_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("NSTLIB_CACHE_DIR", str(tmp_path / "cache"))
    dev.precision_timing.cache_clear()
    yield tmp_path / "cache" / "precision.json"
    dev.precision_timing.cache_clear()


@pytest.mark.parametrize("fp32, bf16, chosen", [(1.0, 0.6, "bf16"), (1.0, 18.0, "fp32"), (1.0, None, "fp32")])
def test_auto_precision_picks_the_faster_measured(monkeypatch, fresh_cache, fp32, bf16, chosen):
    _timed(monkeypatch, fp32, bf16)
    assert dev.resolve_precision("auto", CPU) == chosen
    assert dev.resolve_precision("fp32", CPU) == "fp32"
    assert dev.resolve_precision("auto", torch.device("mps")) == "fp32"


def test_precision_is_measured_once_and_cached_per_device(monkeypatch, fresh_cache):
    calls = _timed(monkeypatch, 1.0, 0.5)
    assert dev.resolve_precision("auto", CPU) == "bf16"
    dev.precision_timing.cache_clear()  # a new process: the file answers
    assert dev.resolve_precision("auto", CPU) == "bf16"
    assert len(calls) == 1
    cached = json.loads(fresh_cache.read_text())
    assert cached == {dev.device_key(CPU): {"fp32_s": 1.0, "bf16_s": 0.5}}
    monkeypatch.setattr(dev, "device_key", lambda device: "another CPU")
    dev.precision_timing.cache_clear()
    dev.resolve_precision("auto", CPU)
    assert len(calls) == 2  # another device model is measured afresh


def test_auto_picks_the_faster_on_this_machine(fresh_cache):
    """The real probe: whichever it picks, the other precision did not measure faster."""
    timing = dev.precision_timing(CPU)
    assert timing.fp32_s > 0
    chosen = dev.resolve_precision("auto", CPU)
    if timing.bf16_s is not None:
        fast, slow = (timing.bf16_s, timing.fp32_s) if chosen == "bf16" else (timing.fp32_s, timing.bf16_s)
        assert fast <= slow
    else:
        assert chosen == "fp32"


def _precision_warnings(calls: list[str], device: str = "cpu") -> list[str]:
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")  # so only nstlib's own once-guard can drop a repeat
        for precision in calls:
            dev.resolve_precision(precision, torch.device(device))
    return [str(w.message) for w in caught]


def test_explicit_bf16_where_slow_warns_once(monkeypatch, fresh_cache):
    _timed(monkeypatch, 1.0, 18.0)
    monkeypatch.setattr(dev, "_warned_bf16_slow", False)
    messages = _precision_warnings(["bf16", "bf16", "fp32", "bf16"])
    assert len(messages) == 1, messages
    assert "18.0x slower" in messages[0] and "\n" not in messages[0]


def test_no_bf16_warning_where_fast_or_not_asked(monkeypatch, fresh_cache):
    monkeypatch.setattr(dev, "_warned_bf16_slow", False)
    _timed(monkeypatch, 1.0, 1.2)
    assert _precision_warnings(["bf16", "auto"]) == []
    _timed(monkeypatch, 1.0, 18.0)
    assert _precision_warnings(["auto", "fp32"]) == []  # auto never picks a slow bf16
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
        metrics=False,
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
def test_bf16_lbfgs_no_more_than_5_percent_above_fp32_on_average(tmp_path, original_weights):
    """Single L-BFGS runs without line search are chaotic (fp32 with 1 vs 2 threads already ends
    0.99–1.01× apart; at 32 px × 40 steps bf16 ended 1.118, 0.955, 1.025 and 0.973× fp32 on the four bundled
    photos, at 48 px 1.099, 1.041, 0.976 and 1.02×), so the claim is checked on the mean over the four, and no
    photo may end more than 15% worse in bf16. A broken bf16 path ends several times worse."""
    ratios = []
    for name in LBFGS_PHOTOS:
        common = dict(
            content=str(ROOT / f"collections/content/{name}.jpg"),
            style=[STYLE],
            **LBFGS,
            save_every=0,
            metrics=False,
            progress="none",
            runs_dir=str(tmp_path),
            device="cpu",
        )
        fp32 = transfer(precision="fp32", **common)
        bf16 = transfer(precision="bf16", **common)
        ratios.append(bf16.final_losses["total"] / fp32.final_losses["total"])
    # one-sided: ending lower than fp32 is a different path, not a defect (seen: 0.94-0.99 on a Zen 4)
    assert sum(ratios) / len(ratios) <= 1.05, ratios
    assert max(ratios) <= 1.15, ratios
