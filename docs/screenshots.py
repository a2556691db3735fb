"""Screenshots of the live page on the demo, for docs/ and the README (``nox -s screenshots``).

Starts ``python -m fullon_cache_api --demo`` on a free port, lets the page fill, and has
headless Chromium (``chromium`` on PATH, or CHROMIUM) write docs/live-desktop.png (1280 px),
docs/live-phone.png (390 px) and docs/live-dark.png (1280 px, dark mode).
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx

DOCS = Path(__file__).resolve().parent
SHOTS = {  # file: (width, height, extra flags)
    "live-desktop.png": (1280, 2000, ()),
    "live-phone.png": (390, 3400, ("--force-device-scale-factor=1",)),
    "live-dark.png": (1280, 2000, ("--force-dark-mode", "--blink-settings=preferredColorScheme=0")),
}
SETTLE_MS = 12000  # the page's time to read every panel and draw the chart


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def main() -> None:
    chromium = (
        os.environ.get("CHROMIUM") or shutil.which("chromium") or shutil.which("chromium-browser")
    )
    if chromium is None:
        sys.exit("chromium is not installed (apt-get install chromium)")
    port = free_port()
    demo = subprocess.Popen(
        [sys.executable, "-m", "fullon_cache_api", "--demo", "--port", str(port)],
        stdout=subprocess.DEVNULL,
        process_group=0,
    )
    try:
        base = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 60
        while True:
            try:
                httpx.get(base + "/health", timeout=2)
                break
            except httpx.TransportError:
                assert time.monotonic() < deadline, "the demo did not answer"
                time.sleep(0.2)
        for name, (width, height, flags) in SHOTS.items():
            with tempfile.TemporaryDirectory() as profile:
                subprocess.run(
                    [
                        chromium,
                        "--headless",
                        "--no-sandbox",
                        "--disable-gpu",
                        "--hide-scrollbars",
                        "--disable-background-networking",
                        "--lang=en-US",
                        f"--user-data-dir={profile}",
                        f"--window-size={width},{height}",
                        f"--virtual-time-budget={SETTLE_MS}",
                        f"--screenshot={DOCS / name}",
                        *flags,
                        f"{base}/ui?refresh=2",
                    ],
                    check=True,
                    stdout=subprocess.DEVNULL,
                    stderr=subprocess.DEVNULL,
                    timeout=120,
                )
            print("wrote", DOCS / name)
    finally:
        os.killpg(demo.pid, signal.SIGTERM)
        demo.wait(30)


if __name__ == "__main__":
    main()
