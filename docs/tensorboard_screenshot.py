"""Screenshots of a real `tensorboard` process in headless Chromium, for the README.

    python docs/tensorboard_screenshot.py LOGDIR [--out FILE.jpg] [--hparams-out FILE.jpg]

Starts `tensorboard --logdir LOGDIR` on a free 127.0.0.1 port, opens the Time Series dashboard (filtered to
a few loss tags) and the HPARAMS table in Debian's Chromium (selenium, the browser test's flags), saves them
as JPEGs and stops TensorBoard.
"""

from __future__ import annotations

import argparse
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))
from test_explore import CHROMEDRIVER, CHROMIUM, CHROMIUM_FLAGS  # noqa: E402  (one set of browser flags)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def save_jpeg(png: bytes, out: Path, height: int) -> None:
    import io

    from PIL import Image

    image = Image.open(io.BytesIO(png)).convert("RGB")
    image = image.crop((0, 0, image.width, min(height, image.height)))
    image.save(out, quality=80, optimize=True)
    print(f"{out}: {image.width}×{image.height}, {out.stat().st_size // 1024} kB")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("logdir")
    parser.add_argument("--out", default="docs/tensorboard.jpg")
    parser.add_argument("--hparams-out", default="docs/tensorboard_hparams.jpg")
    args = parser.parse_args()
    port = free_port()
    server = subprocess.Popen(
        [sys.executable, "-m", "tensorboard.main", "--logdir", args.logdir, "--host", "127.0.0.1", "--port", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    url = f"http://127.0.0.1:{port}/"
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for flag in CHROMIUM_FLAGS:
        options.add_argument(flag.replace("--window-size=1000,1250", "--window-size=1400,1000"))
    driver = webdriver.Chrome(service=Service(CHROMEDRIVER), options=options)
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                urllib.request.urlopen(url, timeout=5).close()
                break
            except OSError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.5)
        driver.get(url + "?darkMode=false#timeseries")
        time.sleep(12)  # the dashboard loads its runs
        from selenium.webdriver.common.keys import Keys

        tags = driver.find_element("css selector", "input[placeholder='Filter tags (regex)']")
        tags.send_keys("^loss/(total|style)|^layer/style_relu(1|5)_1", Keys.ESCAPE)
        # the settings pane opens by default on a narrow window: its toolbar button closes it
        driver.find_element("xpath", "//button[normalize-space()='Settings']").click()
        driver.find_element("tag name", "body").click()
        time.sleep(10)  # the charts redraw
        save_jpeg(driver.get_screenshot_as_png(), Path(args.out), 1000)
        driver.get(url + "?darkMode=false#hparams")
        time.sleep(12)
        save_jpeg(driver.get_screenshot_as_png(), Path(args.hparams_out), 520)
        print(driver.find_element("tag name", "body").text[:1500])
    finally:
        driver.quit()
        server.terminate()
        server.wait(10)


if __name__ == "__main__":
    main()
