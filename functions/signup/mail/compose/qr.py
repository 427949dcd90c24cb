"""The check-in link as a QR code, a PNG that mail clients show inline (by Content-ID; no client loads it from us)."""

from __future__ import annotations

import io

import segno

# Modules drawn this many pixels wide, with the quiet zone the standard asks for: about 160 px for a link of ours,
# what a phone's camera reads from a screen at arm's length.
SCALE = 4
BORDER = 4


def png(text: str) -> bytes:
    out = io.BytesIO()
    segno.make(text, error="m", micro=False).save(out, kind="png", scale=SCALE, border=BORDER)
    return out.getvalue()
