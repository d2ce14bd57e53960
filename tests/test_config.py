import pytest

from nstlib import Config, ConfigError
from nstlib.config import from_dict, parse_value


def test_defaults_reproduce_the_paper():
    c = Config()
    assert c.content_layers == ["relu4_2"]
    assert c.style_layers == ["relu1_1", "relu2_1", "relu3_1", "relu4_1", "relu5_1"]
    assert c.resolved_style_layer_weights() == [0.2] * 5
    assert c.content_weight / c.style_weight == pytest.approx(1e-3)
    assert c.model == "vgg19" and c.weights == "original" and c.optimizer == "lbfgs" and c.learning_rate == 1.0
    assert c.history == 100


def test_inverse_channels_preset_is_the_seed_notebooks():
    c = Config(style_layer_weights="inverse_channels")
    assert c.resolved_style_layer_weights() == pytest.approx([1e3 / n**2 for n in (64, 128, 256, 512, 512)])
    assert Config(style_layer_weights=[1, 2, 3, 4, 5]).resolved_style_layer_weights() == [1, 2, 3, 4, 5]


@pytest.mark.parametrize(
    "kw, message",
    [
        (dict(pooling="mean"), "pooling: 'mean' is not one of avg, max"),
        (dict(style_weight=-1), "style_weight: must be >= 0"),
        (dict(epochs="ten"), "epochs: expected an integer"),
        (dict(style_layers=["relu1_1", "relu6_1"]), "style_layers: unknown style layer 'relu6_1'"),
        (dict(style_layer_weights=[1, 2]), "style_layer_weights: 2 weights for 5 style layers"),
        (dict(style_layer_weights="cubic"), "style_layer_weights: 'cubic'"),
        (dict(model="vgg16"), "weights: 'original' exists offline only for vgg19"),
        (dict(device="gpu"), "device: 'gpu'"),
        (dict(style=[]), "style: at least one"),
        (dict(sizes=[128, 256], level_epochs=[1]), "level_epochs: 1 values for 2 sizes"),
        (dict(lr=float("nan")), "lr: expected a finite number"),
        (dict(weights="vgg.bin"), "weights: 'vgg.bin'"),
        (dict(style_layers=["relu1_1", "relu2_1", "relu1_1"]), "style_layers: 'relu1_1' is listed twice"),
        (dict(content_layers=["relu4_2", "relu4_2"]), "content_layers: 'relu4_2' is listed twice"),
        (dict(sizes=[64, 128, 64]), "sizes: 64 is listed twice"),
        (
            dict(
                style=["a.jpg", "b.jpg"],
                style_layers=["relu1_1", "relu2_1"],
                style_layer_sets=["relu1_1+relu1_1", "relu2_1"],
            ),
            "style_layer_sets (set 1): 'relu1_1' is listed twice",
        ),
    ],
)
def test_bad_values_name_the_parameter(kw, message):
    with pytest.raises(ConfigError, match=message.replace("(", r"\(").replace(")", r"\)")):
        Config(**kw)


def test_unknown_parameter_suggests():
    with pytest.raises(ConfigError, match="unknown parameter 'style_wieght' \\(did you mean style_weight\\?\\)"):
        from_dict({"style_wieght": 3})


def test_parse_value_types():
    assert parse_value("style_weight", "1e4") == 1e4
    assert parse_value("epochs", "1e3") == 1000
    assert parse_value("style_layers", "relu1_1, relu2_1") == ["relu1_1", "relu2_1"]
    assert parse_value("style_layer_weights", "1,2") == [1.0, 2.0]
    assert parse_value("style_layer_weights", "uniform") == "uniform"
    assert parse_value("video", "no") is False
    assert parse_value("style", "a,b.jpg") == ["a,b.jpg"]
    assert Config(epochs=12.0).epochs == 12


def test_a_style_image_listed_twice_is_two_styles():
    """Repeats are refused where they mean nothing (layers, sizes), kept where each entry is one style."""
    c = Config(style=["a.jpg", "a.jpg", "b.jpg"], style_layers=["relu1_1", "relu2_1"])
    c = c.replace(style_layer_sets=["relu1_1", "relu2_1", "relu1_1+relu2_1"], style_masks=["m.png"] * 3)
    assert c.resolved_blend_weights() == pytest.approx([1 / 3] * 3)  # a.jpg has twice b.jpg's share
    assert c.resolved_layer_sets() == [["relu1_1"], ["relu2_1"], ["relu1_1", "relu2_1"]]
