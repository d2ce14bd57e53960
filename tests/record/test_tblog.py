"""TensorBoard event files read back with tensorboard's EventAccumulator: tags, steps, images, hparams."""

from __future__ import annotations

from pathlib import Path

import pytest

from nstlib import Config, transfer
from nstlib.record.runs import read_csv

from conftest import tiny_config

pytest.importorskip("tensorboard")
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator  # noqa: E402
from tensorboard.plugins.hparams import plugin_data_pb2  # noqa: E402


def tiny(tmp_path: Path, **kw) -> Config:
    return tiny_config(tmp_path, **{"image_size": 32, "epochs": 6, "save_every": 3, "video": False, **kw})


def events(folder: Path, suffix: str = "") -> EventAccumulator:
    """The run's event stream (or, with suffix ".hparams", the sweep's hparams file beside it)."""
    files = [f for f in folder.glob("events.out.tfevents.*") if f.name.endswith(suffix)]
    files = [f for f in files if suffix or not f.name.endswith(".hparams")]
    assert len(files) == 1, f"one event stream per run folder: {files}"
    acc = EventAccumulator(str(files[0]), size_guidance={"scalars": 0, "images": 0, "tensors": 0})
    acc.Reload()
    return acc


def hparams_of(acc: EventAccumulator) -> dict[str, object]:
    """The hparams of the run's session-start summary ({} if none)."""
    try:
        content = acc.PluginTagToContent("hparams")
    except KeyError:  # no hparams summary at all
        return {}
    for raw in content.values():
        data = plugin_data_pb2.HParamsPluginData.FromString(raw)
        if data.HasField("session_start_info"):
            hp = data.session_start_info.hparams
            return {k: v.WhichOneof("kind") and getattr(v, v.WhichOneof("kind")) for k, v in hp.items()}
    return {}


def hparam_metrics(acc: EventAccumulator) -> list[str]:
    for raw in acc.PluginTagToContent("hparams").values():
        data = plugin_data_pb2.HParamsPluginData.FromString(raw)
        if data.HasField("experiment"):
            return [m.name.tag for m in data.experiment.metric_infos]
    return []


def test_a_run_logs_scalars_per_step_images_and_config(tmp_path):
    result = transfer(tiny(tmp_path))
    acc = events(result.run_dir)
    tags = acc.Tags()
    expected = {"loss/total", "loss/content", "loss/style", "loss/tv", "layer/content_relu4_2"}
    expected |= {f"layer/style_relu{i}_1" for i in range(1, 6)}
    assert expected <= set(tags["scalars"]), tags["scalars"]
    rows = read_csv(result.run_dir / "losses.csv")
    for tag in expected:  # one value per step, as losses.csv (steps 0..5, then final.png's row at 6)
        assert [e.step for e in acc.Scalars(tag)] == [int(r["epoch"]) for r in rows] == list(range(7))
    total = [e.value for e in acc.Scalars("loss/total")]
    assert total == pytest.approx([float(r["total"]) for r in rows], rel=1e-6)
    assert {"final/total", "final/style"} <= set(tags["scalars"])
    assert [e.step for e in acc.Images("snapshot")] == [0, 3, 6]  # snapshots, then the final image
    image = acc.Images("snapshot")[-1]
    assert (image.width, image.height) == tuple(result.image.shape[-1:-3:-1])
    assert "config/text_summary" in tags["tensors"]
    assert b"starry_swirls" in acc.Tensors("config/text_summary")[0].tensor_proto.string_val[0]
    assert hparams_of(acc) == {}  # a lone run has no sweep axes


def test_batched_sweep_points_get_one_stream_each_with_hparams(tmp_path):
    from nstlib.sweep.engines import run_group

    configs = [tiny(tmp_path, style_weight=w, epochs=3, save_every=0, metrics=True).to_dict() for w in (1e2, 1e4)]
    dirs = [tmp_path / f"point{i}" for i in range(2)]
    for d in dirs:
        d.mkdir()
    params = [{"style_weight": 1e2, "style_layers": ["relu1_1"]}, {"style_weight": 1e4, "style_layers": ["relu1_1"]}]
    states = run_group(configs, [str(d) for d in dirs], ["a", "b"], params)
    finals = []
    for d, p, state in zip(dirs, params, states):
        assert state.status == "done"
        acc = events(d)
        assert [e.step for e in acc.Scalars("loss/total")] == [0, 1, 2, 3]
        finals.append(acc.Scalars("final/total")[0].value)
        assert finals[-1] == pytest.approx(state.final_losses["total"], rel=1e-6)
        hparams = events(d, ".hparams")
        assert hparams_of(hparams) == {"style_weight": p["style_weight"], "style_layers": '["relu1_1"]'}
        scores = {f"metric/{n}": v for n, v in state.metrics.items() if v is not None}
        assert len(scores) >= 9  # all but the edge score of an image with a side of 40 px or less
        assert set(hparam_metrics(hparams)) == {"final/total", "final/content", "final/style", "final/tv", *scores}
        assert {t: hparams.Scalars(t)[0].value for t in scores} == pytest.approx(scores, rel=1e-6)
    assert finals[0] != finals[1]  # each stream has its own sample's losses


def test_tensorboard_false_writes_no_events(tmp_path):
    result = transfer(tiny(tmp_path, tensorboard=False, epochs=2))
    assert result.status == "done"
    assert not list(result.run_dir.rglob("events.out.tfevents.*"))
    from nstlib.sweep.engines import log_hparams
    from nstlib.sweep.folder import PointState

    log_hparams(result.config.to_dict(), result.run_dir, {"epochs": 2}, PointState("done"))
    assert not list(result.run_dir.rglob("events.out.tfevents.*"))
