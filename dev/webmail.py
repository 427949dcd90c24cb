"""Read the local mailbox in a browser: a list of mails, each with its HTML, its text and its attachments."""

from __future__ import annotations

import email
import email.policy
import json
import re
from email.message import EmailMessage
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import jinja2

_PAGES = jinja2.Environment(
    loader=jinja2.FileSystemLoader(Path(__file__).parent / "templates"),
    autoescape=True,
    undefined=jinja2.StrictUndefined,
)


_CID = re.compile(r'src="cid:([^"]+)"')


def _read(path: Path) -> EmailMessage:
    message = email.message_from_bytes(path.read_bytes(), policy=email.policy.default)
    assert isinstance(message, EmailMessage)
    return message


def _summary(path: Path) -> dict[str, Any]:
    message = _read(path)
    return {"id": path.stem, "subject": str(message["Subject"]), "to": str(message["To"]), "date": str(message["Date"])}


def serve(directory: Path, port: int) -> None:
    server = make_server(directory, port)
    try:
        server.serve_forever()
    finally:
        server.server_close()


def make_server(directory: Path, port: int) -> ThreadingHTTPServer:
    """The mailbox's pages for the mails in `directory`, on 127.0.0.1:`port` (not yet serving)."""
    directory.mkdir(parents=True, exist_ok=True)

    def mails() -> list[Path]:
        return sorted(directory.glob("*.eml"), reverse=True)

    class Handler(BaseHTTPRequestHandler):
        def log_message(self, format: str, *args: Any) -> None:
            pass

        def do_GET(self) -> None:
            parts = [part for part in self.path.split("?")[0].split("/") if part]
            if not parts:
                return self._send(_PAGES.get_template("inbox.html").render(mails=[_summary(p) for p in mails()]))
            if parts == ["api", "messages"]:
                body = json.dumps([{**_summary(p), "text": self._text(p)} for p in mails()])
                return self._send(body, "application/json")
            path = directory / f"{parts[0]}.eml"
            if parts[0] not in {p.stem for p in mails()}:
                return self._send("not found", "text/plain", HTTPStatus.NOT_FOUND)
            message = _read(path)
            if parts[1:] == ["html"]:
                html = message.get_body(("html",))
                # A mail's inline images (the check-in code) are named by Content-ID, which a browser cannot follow.
                page = _CID.sub(f'src="/{parts[0]}/cid/\\1"', html.get_content()) if html else ""
                return self._send(page, "text/html")
            if len(parts) == 3 and parts[1] == "cid":
                for part in message.walk():
                    if str(part.get("Content-ID", "")).strip("<>") == parts[2] and isinstance(part, EmailMessage):
                        return self._send(part.get_content(), part.get_content_type())
                return self._send("not found", "text/plain", HTTPStatus.NOT_FOUND)
            if parts[1:] == ["raw"]:
                return self._send(path.read_text(errors="replace"), "text/plain")
            if len(parts) == 3 and parts[1] == "attachment":
                attachment = list(message.iter_attachments())[int(parts[2])]
                return self._send(attachment.get_content(), attachment.get_content_type())
            attachments = [a.get_filename() or "attachment" for a in message.iter_attachments()]
            page = _PAGES.get_template("mail.html").render(
                mail=_summary(path),
                text=self._text(path),
                attachments=attachments,
                headers=[(k, str(v)) for k, v in message.items()],
            )
            return self._send(page)

        def _text(self, path: Path) -> str:
            body = _read(path).get_body(("plain",))
            return str(body.get_content()) if body else ""

        def _send(self, body: str | bytes, content_type: str = "text/html", status: int = HTTPStatus.OK) -> None:
            data = body.encode() if isinstance(body, str) else body
            self.send_response(status)
            self.send_header("Content-Type", f"{content_type}; charset=utf-8")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

    return ThreadingHTTPServer(("127.0.0.1", port), Handler)
