"""The local mailbox's pages (make dev): a mail's inline images, named by Content-ID, are shown."""

from __future__ import annotations

import threading
import urllib.error
import urllib.request
from collections.abc import Iterator
from email.message import EmailMessage
from pathlib import Path

import pytest

from dev import processes, webmail

PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 16


@pytest.fixture
def mailbox_pages(tmp_path: Path) -> Iterator[str]:
    message = EmailMessage()
    message["Subject"] = "Je bent aangemeld"
    message["To"] = "jan@example.nl"
    message.set_content("Laat de code scannen.")
    message.add_alternative('<p><img src="cid:code@example.nl" alt="QR-code"></p>', subtype="html")
    html = message.get_body(("html",))
    assert isinstance(html, EmailMessage)
    html.add_related(PNG, maintype="image", subtype="png", cid="<code@example.nl>")
    (tmp_path / "m1.eml").write_bytes(message.as_bytes())
    server = webmail.make_server(tmp_path, processes.free_port())
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


def read(url: str) -> tuple[str, bytes]:
    with urllib.request.urlopen(url, timeout=5) as answer:
        return answer.headers.get_content_type(), answer.read()


def test_an_inline_image_is_shown_by_its_content_id(mailbox_pages: str) -> None:
    kind, html = read(f"{mailbox_pages}/m1/html")

    assert kind == "text/html"
    assert b'src="/m1/cid/code@example.nl"' in html
    assert read(f"{mailbox_pages}/m1/cid/code@example.nl") == ("image/png", PNG)


def test_an_unknown_content_id_is_not_found(mailbox_pages: str) -> None:
    with pytest.raises(urllib.error.HTTPError) as refused:
        read(f"{mailbox_pages}/m1/cid/other@example.nl")

    refused.value.close()
    assert refused.value.code == 404
