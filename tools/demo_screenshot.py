"""A screenshot of the demo page for the README: serve the model (``src_helpers.demo``) on a free local port, open it
in headless Chromium (Debian's ``chromium`` and ``chromium-driver``), classify an example sentence and save the page.

    python -m tools.demo_screenshot [--model DIR] [--out images/09_demo.png]

Runs in the transformers-5 environment (``.venv-tf5``: gradio and selenium are its ``demo`` extra).
"""

from __future__ import annotations

import argparse
import os
import socket
import sys
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from src_helpers import demo
from src_helpers.config import REPO_ROOT
from src_helpers.predict import RUNTIMES

CHROMIUM, CHROMEDRIVER = Path("/usr/bin/chromium"), Path("/usr/bin/chromedriver")
DEFAULT_OUT = REPO_ROOT / "images" / "09_demo.png"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def browser(width: int = 1200, height: int = 1000, tmp: str | Path | None = None) -> Any:
    """Headless Chromium driven by Selenium (``/usr/bin/chromium`` through ``/usr/bin/chromedriver``); ``tmp``: the
    folder for its temporary profile (default: the system's)."""
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = str(CHROMIUM)
    for flag in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--disable-background-networking",
                 f"--window-size={width},{height}"):
        options.add_argument(flag)
    env = {**os.environ, "TMPDIR": str(tmp)} if tmp else None
    return webdriver.Chrome(service=Service(str(CHROMEDRIVER), env=env), options=options)


def wait_for(driver: Any, css: str, predicate: Any, timeout: float = 60) -> list:
    """The elements matching ``css`` once ``predicate(elements)`` holds (Selenium's ``WebDriverWait``)."""
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    def ready(d: Any) -> Any:
        found = d.find_elements(By.CSS_SELECTOR, css)
        return found if found and predicate(found) else False

    return WebDriverWait(driver, timeout).until(ready)


def screenshot(model: demo.DemoModel, out: Path, text: str, width: int = 1200, height: int = 1000) -> Path:
    """Serve ``model``, classify ``text`` in the browser and save the page (at least ``height`` pixels high, the
    whole page when it is longer) to ``out``."""
    before = os.environ.get("GRADIO_TEMP_DIR")
    with tempfile.TemporaryDirectory(prefix="demo_screenshot_") as tmp:
        os.environ["GRADIO_TEMP_DIR"] = tmp  # Gradio's cache of this one page
        app = demo.build_app(model, tmp)
        port = free_port()
        app.launch(server_name="127.0.0.1", server_port=port, prevent_thread_lock=True, quiet=True)
        try:
            _classify_and_save(browser(width, height, tmp), port, out, text, width, height, len(model.labels))
        finally:
            app.close()
            if before is None:
                os.environ.pop("GRADIO_TEMP_DIR", None)
            else:
                os.environ["GRADIO_TEMP_DIR"] = before
    return out


def _classify_and_save(driver: Any, port: int, out: Path, text: str, width: int, height: int, n_labels: int) -> None:
    from selenium.webdriver.common.by import By

    try:
        driver.get(f"http://127.0.0.1:{port}/")
        wait_for(driver, "#text textarea", lambda e: e[0].is_displayed())[0].send_keys(text)
        driver.find_element(By.CSS_SELECTOR, "#classify").click()
        wait_for(driver, "#verdict", lambda e: "predicted:" in e[0].text)
        wait_for(driver, "#probabilities .confidence-set", lambda rows: len(rows) == n_labels)
        full, chrome = driver.execute_script(  # the page's height, and what the window adds around the page
            "const app = document.querySelector('gradio-app');"
            "return [Math.max(document.documentElement.scrollHeight, document.body.scrollHeight,"
            " app ? app.scrollHeight : 0), window.outerHeight - window.innerHeight];")
        driver.set_window_size(width, max(height, int(full) + int(chrome)))
        out.parent.mkdir(parents=True, exist_ok=True)
        if not driver.save_screenshot(str(out)):
            raise OSError(f"the browser could not write {out}")
    finally:
        driver.quit()


def main(argv: Sequence[str] | None = None) -> int:
    p = argparse.ArgumentParser(description="Screenshot of the demo page (headless Chromium).")
    p.add_argument("--model", help="model folder (default: the one `make demo` serves)")
    p.add_argument("--runtime", choices=RUNTIMES, default="auto")
    p.add_argument("--out", type=Path, default=DEFAULT_OUT, help="PNG file (default: images/09_demo.png)")
    p.add_argument("--text", default=demo.EXAMPLES[0], help="the sentence classified on the page")
    a = p.parse_args(argv)
    missing = [f"{path} (apt-get install {package})" for path, package in
               ((CHROMIUM, "chromium"), (CHROMEDRIVER, "chromium-driver")) if not path.exists()]
    if missing:
        print(f"error: not found: {', '.join(missing)}", file=sys.stderr)
        return 2
    try:
        model = demo.load_demo_model(a.model, a.runtime)
        print(screenshot(model, a.out, a.text))
    except (ImportError, ValueError, FileNotFoundError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
