"""Debian's Chromium, as the browser tests and the screenshots drive it through Playwright (which downloads none)."""

from pathlib import Path

CHROMIUM = Path("/usr/bin/chromium")
# Flags for a machine without a network beyond loopback: no background traffic, no sandbox as root.
FLAGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
