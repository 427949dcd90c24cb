"""The live `register`, asked over HTTP as browsers and host pages ask it: health, the embed script, a session's
form, CORS for each site the session allows, and the headers that keep its pages safe. Each request is timed; the
first is shown apart, for it may have met a cold start."""

from __future__ import annotations

import json
import statistics
import time
import urllib.error
import urllib.request
from collections.abc import Mapping
from dataclasses import dataclass, field
from email.message import Message
from typing import Any

from signup.organisers.check.report import Result, Status

HEALTH, EMBED, FORM, HEADERS, CORS, TIMING = (
    "live.health",
    "live.embed",
    "live.form",
    "live.headers",
    "live.cors",
    "live.timing",
)
# What our own pages answer with (http/web.py), and what a page of ours must never lack.
PAGE_HEADERS = {
    "Referrer-Policy": "same-origin",
    "Content-Security-Policy": "frame-ancestors 'none'",
    "X-Content-Type-Options": "nosniff",
    "Cache-Control": "no-store",
}


@dataclass(frozen=True)
class Answer:
    status: int  # 0: no answer at all
    headers: Message
    body: str
    seconds: float
    error: str | None = None

    def json(self) -> Any:
        try:
            return json.loads(self.body)
        except ValueError:
            return None


@dataclass
class Http:
    """A small client of the function that keeps every request's time, in order."""

    base_url: str
    timeout: float = 30.0
    timings: list[tuple[str, float]] = field(default_factory=list)

    def ask(self, method: str, path: str, headers: Mapping[str, str] | None = None, body: Any = None) -> Answer:
        data = None if body is None else json.dumps(body).encode()
        sent = {**({"Content-Type": "application/json"} if data else {}), **(headers or {})}
        # The operator's own address, which `signup check` took only as http(s).
        request = urllib.request.Request(self.base_url + path, data=data, headers=sent, method=method)  # noqa: S310
        started = time.monotonic()
        try:
            with urllib.request.urlopen(request, timeout=self.timeout) as response:  # noqa: S310 - the operator's URL
                answer = Answer(response.status, response.headers, response.read().decode("utf-8", "replace"), 0.0)
        except urllib.error.HTTPError as error:
            answer = Answer(error.code, error.headers, error.read().decode("utf-8", "replace"), 0.0)
        except (urllib.error.URLError, OSError) as error:
            reason = getattr(error, "reason", error)
            answer = Answer(0, Message(), "", 0.0, f"no answer: {reason}")
        seconds = time.monotonic() - started
        self.timings.append((f"{method} {path}", seconds))
        return Answer(answer.status, answer.headers, answer.body, seconds, answer.error)


def check_live(http: Http, session_id: str, origins: list[str]) -> list[Result]:
    """Every check of the live function for one session (the timing of all its requests: `timing`)."""
    health = _health(http)
    if health.status is Status.FAIL:
        return [health]
    return [health, _embed(http), *_form_and_headers(http, session_id), *_cors(http, session_id, origins)]


def _failed(name: str, what: str, answer: Answer, expected: str) -> Result:
    if answer.status == 0:
        return Result(
            name,
            Status.FAIL,
            f"{what}: {answer.error}",
            "Check the address (`terraform output form_url` without the session part) and that `register` is deployed.",
            answer.seconds,
        )
    fix = "See the function's log (Cloud Logging, `register`): a 503 `misconfigured` names the setting."
    error = (answer.json() or {}).get("error") if answer.headers.get_content_type() == "application/json" else None
    said = f" ({error})" if error else ""
    return Result(name, Status.FAIL, f"{what}: answered {answer.status}{said}, not {expected}", fix, answer.seconds)


def _health(http: Http) -> Result:
    answer = http.ask("GET", "/healthz")
    if answer.status != 200 or answer.body.strip() != "ok":
        return _failed(HEALTH, "health", answer, "200 ok")
    return Result(HEALTH, Status.PASS, f"health: {http.base_url}/healthz answers ok", seconds=answer.seconds)


def _embed(http: Http) -> Result:
    answer = http.ask("GET", "/embed.js")
    if answer.status != 200 or answer.headers.get_content_type() != "text/javascript":
        return _failed(EMBED, "embed.js", answer, "200 text/javascript")
    return Result(EMBED, Status.PASS, "embed.js: served, as host pages load it", seconds=answer.seconds)


def _form_and_headers(http: Http, session_id: str) -> list[Result]:
    fragment = http.ask("GET", f"/sessions/{session_id}/form")
    if fragment.status != 200 or "<form" not in fragment.body:
        return [_failed(FORM, f"the form of session {session_id}", fragment, "200 with a form")]
    form = Result(FORM, Status.PASS, f"form: session {session_id} serves its form", seconds=fragment.seconds)
    page = http.ask("GET", f"/sessions/{session_id}")
    wrong = {name: page.headers.get(name) for name, value in PAGE_HEADERS.items() if page.headers.get(name) != value}
    if page.status != 200 or wrong:
        said = ", ".join(f"{name}: {value or 'none'}" for name, value in wrong.items())
        return [
            form,
            Result(
                HEADERS,
                Status.FAIL,
                f"headers: the session's page answered {page.status} with {said or 'no headers'}",
                "Something in front of the function (a proxy, a CDN) changes its headers: let them through.",
                page.seconds,
                {"wrong": wrong},
            ),
        ]
    shown = ", ".join(f"{name}: {value}" for name, value in PAGE_HEADERS.items())
    return [form, Result(HEADERS, Status.PASS, f"headers: {shown}", seconds=page.seconds)]


def _cors(http: Http, session_id: str, origins: list[str]) -> list[Result]:
    if not origins:
        return [
            Result(
                CORS,
                Status.WARN,
                f"CORS: session {session_id} lists no allowed_origins, so no website may embed its form",
                "Add each site that embeds the form to the session's allowed_origins, e.g. https://www.example.nl.",
            )
        ]
    results = []
    for origin in origins:
        asked = http.ask(
            "OPTIONS",
            f"/sessions/{session_id}/registrations",
            {
                "Origin": origin,
                "Access-Control-Request-Method": "POST",
                "Access-Control-Request-Headers": "content-type",
            },
        )
        fetched = http.ask("GET", f"/sessions/{session_id}/form", {"Origin": origin})
        granted = (
            asked.headers.get("Access-Control-Allow-Origin"),
            fetched.headers.get("Access-Control-Allow-Origin"),
        )
        seconds = asked.seconds + fetched.seconds
        if asked.status != 204 or granted != (origin, origin):
            results.append(
                Result(
                    f"{CORS}.{origin}",
                    Status.FAIL,
                    f"CORS: {origin} is not let in (preflight {asked.status}, form {fetched.status})",
                    "Write the origin exactly as the browser sends it: scheme, host and port, without a path.",
                    seconds,
                )
            )
        else:
            results.append(
                Result(f"{CORS}.{origin}", Status.PASS, f"CORS: {origin} may fetch and post", seconds=seconds)
            )
    return results


def timing(http: Http) -> Result:
    """The first request apart (a cold start, if the function had scaled to zero), and the others' median."""
    if not http.timings:
        return Result(TIMING, Status.WARN, "timing: no request was made")
    (first_request, first), *rest = http.timings
    others = [seconds for _, seconds in rest]
    details: dict[str, Any] = {"first": {"request": first_request, "seconds": round(first, 3)}}
    summary = f"timing: the first request {first:.2f} s (a cold start, if any)"
    if others:
        median = statistics.median(others)
        details.update(median=round(median, 3), slowest=round(max(others), 3), requests=len(others))
        summary += f"; then {len(others)} more, median {median * 1000:.0f} ms, slowest {max(others) * 1000:.0f} ms"
        if median > 2.0:
            fix = "Answers this slow make visitors leave: look at the function's region and the database's location."
            return Result(TIMING, Status.WARN, summary, fix, details=details)
    return Result(TIMING, Status.PASS, summary, details=details)
