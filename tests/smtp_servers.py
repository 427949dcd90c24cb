"""Real SMTP servers (aiosmtpd) for the tests, each checking logins against USER and PASSWORD: with STARTTLS, with TLS
from the start (smtps://), or in clear text on loopback, as a local relay may be.

Their certificates come from a throwaway CA (trustme); the client trusts that CA through SSL_CERT_FILE (`trust`), as
it would trust a provider's certificate through the system's store.
"""

from __future__ import annotations

import json
import ssl
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import trustme
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword

from dev import processes
from dev.mailbox import Mailbox

USER, PASSWORD = "signup", "p@ss word"
_ROOT = Path(__file__).resolve().parent.parent
Authenticator = Callable[[Any, Any, Any, str, Any], AuthResult]


def _right(data: Any) -> bool:
    return isinstance(data, LoginPassword) and (data.login, data.password) == (USER.encode(), PASSWORD.encode())


def check_login(server: Any, session: Any, envelope: Any, mechanism: str, data: Any) -> AuthResult:
    """A wrong login is answered with 535, as a provider does (aiosmtpd answers what it is left to handle)."""
    return AuthResult(success=_right(data), handled=False)


def trust(authority: trustme.CA, directory: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    bundle = directory / "ca.pem"
    authority.cert_pem.write_to_path(str(bundle))
    monkeypatch.setenv("SSL_CERT_FILE", str(bundle))


def server_context(authority: trustme.CA) -> ssl.SSLContext:
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    authority.issue_cert("127.0.0.1", "localhost").configure_cert(context)
    return context


def serve(authenticator: Authenticator = check_login, **options: Any) -> Iterator[tuple[Mailbox, int]]:
    """A real SMTP server on a free loopback port; `options` (aiosmtpd's) pick how TLS starts, if at all."""
    box, port = Mailbox(), processes.free_port()
    controller = Controller(box, hostname="127.0.0.1", port=port, authenticator=authenticator, **options)
    controller.start()
    try:
        yield box, port
    finally:
        controller.stop()


def starttls(authority: trustme.CA, authenticator: Authenticator = check_login) -> Iterator[tuple[Mailbox, int]]:
    """Mail only after STARTTLS and a login, as on a provider's submission port (587)."""
    yield from serve(authenticator, tls_context=server_context(authority), require_starttls=True, auth_required=True)


def implicit_tls(authority: trustme.CA, authenticator: Authenticator = check_login) -> Iterator[tuple[Mailbox, int]]:
    # aiosmtpd cannot tell that a connection is TLS from the start, so it would not offer AUTH; it is, so it may
    # (and it still checks every login).
    yield from serve(authenticator, ssl_context=server_context(authority), auth_require_tls=False)


def clear_text(authenticator: Authenticator = check_login) -> Iterator[tuple[Mailbox, int]]:
    """No STARTTLS, but a login, as a development relay on this machine may offer."""
    yield from serve(authenticator, auth_require_tls=False)


def elsewhere(*arguments: str) -> Any:
    """What Python with these arguments printed as JSON, run in a network namespace of its own: a server there can
    sit at an address that is not loopback, and no packet leaves it."""
    ran = subprocess.run(
        ["unshare", "--net", sys.executable, *arguments],  # noqa: S607 - util-linux's, from PATH
        cwd=_ROOT,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert ran.returncode == 0, ran.stderr
    return json.loads(ran.stdout)
