import pytest

from nstlib import ConfigError
from nstlib.printsize import coarse_to_fine, oriented, print_pixels

from conftest import tiny_config


def test_print_sizes_resolve_to_pixels():
    assert print_pixels("30x40cm", 300) == (3543, 4724)  # 300 cm / 2.54 = 118.11 in
    assert print_pixels("12x16in", 300) == (3600, 4800)
    assert print_pixels("A4", 150) == (1240, 1754) == print_pixels("210 x 297 mm", 150)
    assert print_pixels("2x2cm", 64) == (50, 50)
    assert print_pixels("1920x1080px", 300) == (1920, 1080) == print_pixels("1920 × 1080 PX", 72)  # dpi: a label


@pytest.mark.parametrize("text", ["30x40", "30x40ft", "A9", "x40cm", "0x4cm", "0x4px", "10.5x4px"])
def test_a_bad_print_size_is_one_line_naming_it(text):
    with pytest.raises(ConfigError, match="^print_size: ") as e:
        print_pixels(text, 300)
    assert "\n" not in str(e.value)


def test_a_print_size_sets_the_schedule_unless_sizes_are_given(tmp_path):
    assert coarse_to_fine(4724) == [590, 1181, 2362, 4724]
    assert tiny_config(tmp_path, print_size="30x40cm").level_sizes == [590, 1181, 2362, 4724]
    assert tiny_config(tmp_path, print_size="2x2cm", dpi=64).level_sizes == [50]
    assert tiny_config(tmp_path, print_size="30x40cm", sizes=[256, 4724]).level_sizes == [256, 4724]
    with pytest.raises(ConfigError, match="^sizes: .*4724 px") as e:  # the last level is the print
        tiny_config(tmp_path, print_size="30x40cm", sizes=[256, 512])
    assert "\n" not in str(e.value)
    with pytest.raises(ConfigError, match="^print_size: "):
        tiny_config(tmp_path, print_size="big")


def test_a_print_turns_to_the_images_orientation():
    portrait = (3543, 4724)  # 30x40cm at 300 dpi, as (width, height)
    assert oriented(portrait, 300, 451) == (4724, 3543)  # a landscape photo: a landscape print
    assert oriented(portrait, 451, 300) == portrait
    assert oriented(portrait, 300, 300) == portrait  # a square image keeps the size as written
    assert oriented((4724, 3543), 451, 300) == portrait
    assert oriented((500, 500), 300, 451) == (500, 500)
