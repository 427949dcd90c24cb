"""Run inside a network namespace of its own (`unshare --net`): a mail server without STARTTLS at an address that is
not loopback, and our transport trying to log in and send to it. Prints what happened as JSON.

The namespace is made for this run and holds nothing but its own loopback device, to which 198.18.0.1 (the range
set aside for tests of network devices, RFC 2544) is added: the server is truly "not loopback" to the client, and
no packet leaves the namespace.
"""

from __future__ import annotations

import json
import subprocess
from email.message import EmailMessage
from typing import Any

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult
from signup.mail.transport.smtp import InsecureServerError, SmtpServer, SmtpTransport

from dev import processes
from dev.mailbox import Mailbox

ADDRESS = "198.18.0.1"


def main() -> None:
    for command in (["ip", "link", "set", "lo", "up"], ["ip", "addr", "add", f"{ADDRESS}/32", "dev", "lo"]):
        subprocess.run(command, check=True)
    logins: list[Any] = []

    def record_login(server: Any, session: Any, envelope: Any, mechanism: str, data: Any) -> AuthResult:
        logins.append(data)
        return AuthResult(success=True)

    box, port = Mailbox(), processes.free_port()
    controller = Controller(box, hostname=ADDRESS, port=port, authenticator=record_login, auth_require_tls=False)
    controller.start()
    mail = EmailMessage()
    mail["From"], mail["To"], mail["Subject"] = "sessies@example.nl", "jan@example.nl", "Bevestiging"
    mail.set_content("Je bent aangemeld.")
    error: Exception | None = None
    try:
        with SmtpTransport(SmtpServer.from_url(f"smtp://signup:geheim@{ADDRESS}:{port}"), timeout=10).connect() as c:
            c.send(mail, "sessies@example.nl", "jan@example.nl")
    except InsecureServerError as refused:
        error = refused
    finally:
        controller.stop()
    print(json.dumps({"error": str(error) if error else None, "logins": len(logins), "mails": len(box.received)}))


if __name__ == "__main__":
    main()
