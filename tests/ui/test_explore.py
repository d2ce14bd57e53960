"""`nst explore` end to end: Voilà serves the Explorer, headless Chromium drives it (Run → preview → Stop).

Needs Debian's chromium and chromium-driver (.ci/run installs them) and selenium; skipped without them.
Screenshots go to $NSTLIB_TEST_ARTIFACTS (default: test-artifacts/ in the checkout).
"""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from conftest import ROOT

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
CHROMEDRIVER = shutil.which("chromedriver") or "/usr/bin/chromedriver"
# the closed network refuses Chromium's background connections; these flags keep it from trying (python.md)
CHROMIUM_FLAGS = [
    "--headless=new",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-dev-shm-usage",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--window-size=1000,1250",
]
ERRORS = re.compile(r"Traceback \(most recent call last\)|\b\w+Error: |There was an error when executing cell")
ARTIFACTS = Path(os.environ.get("NSTLIB_TEST_ARTIFACTS", ROOT / "test-artifacts"))


@pytest.fixture(scope="module")
def server(tmp_path_factory) -> Iterator[dict[str, Any]]:
    """`nst explore --port 0 --no-browser` in a temporary folder; yields its process, URL and runs folder."""
    if find_voila() is None:
        pytest.skip("voila is not installed")
    work = tmp_path_factory.mktemp("explore")
    runs = work / "runs"
    paths = [str(ROOT), *filter(None, os.environ.get("PYTHONPATH", "").split(os.pathsep))]
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(paths)}  # this checkout's nstlib, in nst and its kernels
    proc = subprocess.Popen(
        [sys.executable, "-m", "nstlib", "explore", "--port", "0", "--no-browser", "--runs-dir", str(runs)],
        cwd=work,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    assert proc.stdout is not None
    line = proc.stdout.readline()  # the URL line, or Voilà's error if it could not start
    match = re.search(r"(http://\S+)", line)
    if not match:
        proc.kill()
        pytest.fail(f"nst explore did not print its URL: {line}{proc.stdout.read()}")
    info = {"proc": proc, "url": match.group(1), "runs": runs}
    yield info
    if proc.poll() is None:
        proc.kill()
        proc.wait()


def find_voila() -> str | None:
    from importlib.util import find_spec

    return "voila" if find_spec("voila") else None


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    webdriver = pytest.importorskip("selenium.webdriver")
    from selenium.webdriver.chrome.service import Service

    if not (Path(CHROMIUM).exists() and Path(CHROMEDRIVER).exists()):
        pytest.skip("Debian's chromium and chromium-driver are not installed (.ci/run installs them)")
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for flag in CHROMIUM_FLAGS:
        options.add_argument(flag)
    driver = webdriver.Chrome(service=Service(CHROMEDRIVER), options=options)
    yield driver
    driver.quit()


def page_text(driver: Any) -> str:
    return str(driver.find_element("tag name", "body").text)


def wait_for(driver: Any, what: str, check: Callable[[], Any], timeout: float = 60) -> Any:
    """Poll `check` until it returns something truthy; fail with the page text on an error or a timeout."""
    deadline = time.monotonic() + timeout
    while True:
        text = page_text(driver)
        if ERRORS.search(text):
            shot(driver, "error")
            pytest.fail(f"the page shows an error while waiting for {what}:\n{text}")
        value = check()
        if value:
            return value
        if time.monotonic() > deadline:
            shot(driver, "timeout")
            pytest.fail(f"timed out after {timeout:.0f} s waiting for {what}; the page says:\n{text}")
        time.sleep(0.25)


def shot(driver: Any, name: str) -> Path:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    path = ARTIFACTS / f"explorer_{name}.png"
    driver.save_screenshot(str(path))
    return path


def set_slider(driver: Any, label: str, value: int) -> None:
    """Type `value` into the editable readout of the slider labelled `label` (as a person would)."""
    from selenium.webdriver.common.keys import Keys

    readout = driver.find_element(
        "xpath",
        f"//div[contains(@class,'widget-slider')][label[normalize-space()='{label}']]//div[@class='widget-readout']",
    )
    readout.click()
    readout.send_keys(Keys.CONTROL, "a")
    readout.send_keys(str(value), Keys.ENTER)
    wait_for(driver, f"{label} = {value}", lambda: readout.text.strip() == str(value), 10)


def button(driver: Any, text: str) -> Any:
    return driver.find_element("xpath", f"//button[normalize-space()='{text}']")


def images(driver: Any) -> list[str]:
    return [img.get_attribute("src") or "" for img in driver.find_elements("css selector", "img.widget-image")]


def test_explorer_in_headless_chromium_run_preview_stop(server, browser):
    driver = browser
    driver.get(server["url"])
    wait_for(driver, "the Run button", lambda: driver.find_elements("xpath", "//button[normalize-space()='Run']"), 90)
    wait_for(driver, "the images and the status", lambda: "then Run" in page_text(driver) and len(images(driver)) >= 4)
    set_slider(driver, "image_size", 64)
    set_slider(driver, "epochs", 300)  # long enough that Stop comes mid-run
    preview_before, plot_before = images(driver)[2:4]
    button(driver, "Run").click()
    wait_for(driver, "the run to start", lambda: "running 300 steps at 64 px" in page_text(driver), 20)

    def updated() -> bool:
        preview, plot = images(driver)[2:4]
        step = re.search(r"step (\d+)", page_text(driver))
        # a few steps, so the loss plot (and the docs' screenshot) shows a curve
        return preview != preview_before and plot != plot_before and bool(step and int(step.group(1)) >= 20)

    wait_for(driver, "the preview and the loss plot to update", updated, 60)
    # the preview shows a real image: the browser decoded it to the run's 64-px size
    width = driver.execute_script("return document.querySelectorAll('img.widget-image')[2].naturalWidth")
    assert width == 64, width
    shot(driver, "running")
    button(driver, "Stop").click()
    status = wait_for(
        driver,
        "the run to end",
        lambda: re.search(r"(interrupted|done)\b.*run folder\s+(\S+)", page_text(driver)),
        30,
    )
    shot(driver, "stopped")
    state, folder = status.group(1), Path(status.group(2))
    assert folder.parent == server["runs"].resolve(), folder
    record = json.loads((folder / "config.json").read_text())
    assert record["status"] == state and record["config"]["image_size"] == 64
    assert (folder / "final.png").is_file() and (folder / "losses.csv").is_file()
    if state == "interrupted":
        assert record["reason"] == "stopped by the user" and record["epochs_done"] < 300
    assert "Download the result" in page_text(driver)
    assert not button(driver, "Run").get_attribute("disabled")


def test_ctrl_c_stops_the_server_and_its_kernels(server):
    proc = server["proc"]
    urllib.request.urlopen(server["url"], timeout=10).close()  # still serving after the browser test
    proc.send_signal(signal.SIGINT)
    assert proc.wait(30) == 0
    with pytest.raises(OSError):
        urllib.request.urlopen(server["url"], timeout=5)
