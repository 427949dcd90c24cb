"""The demo website of `make dev`: an invitation page on another origin, with the sign-up form embedded."""

from __future__ import annotations

import argparse
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import jinja2

_PAGES = jinja2.Environment(
    loader=jinja2.FileSystemLoader(Path(__file__).parent / "templates"),
    autoescape=True,
    undefined=jinja2.StrictUndefined,
)


def serve(port: int, register_url: str, session_id: str, host: str = "127.0.0.1") -> ThreadingHTTPServer:
    """A server for the invitation page; call `serve_forever()` on it (or run it in a thread).

    `/?session=ID` embeds another session than the default one (the tests embed each state of the form)."""
    template = _PAGES.get_template("invitation.html")

    class Handler(BaseHTTPRequestHandler):
        def log_message(self, format: str, *args: Any) -> None:
            pass

        def do_GET(self) -> None:
            url = urlsplit(self.path)
            if url.path not in ("/", "/index.html"):
                self.send_error(HTTPStatus.NOT_FOUND)
                return
            embedded = parse_qs(url.query).get("session", [session_id])[0]
            page = template.render(register_url=register_url, session_id=embedded).encode()
            self.send_response(HTTPStatus.OK)
            self.send_header("Content-Type", "text/html; charset=utf-8")
            self.send_header("Content-Length", str(len(page)))
            self.end_headers()
            self.wfile.write(page)

    return ThreadingHTTPServer((host, port), Handler)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--port", type=int, default=8000)
    parser.add_argument("--register-url", default="http://localhost:8080")
    parser.add_argument("--session", default="strategiesessie")
    options = parser.parse_args()
    server = serve(options.port, options.register_url, options.session)
    try:
        server.serve_forever()
    finally:
        server.server_close()


if __name__ == "__main__":
    main()
