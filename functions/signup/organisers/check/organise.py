"""The live organisers' page (`organise`), asked over HTTP as an organiser's browser and another site would ask it:
health, the sign-in page with the headers that keep it to itself, and a post from another site refused."""

from __future__ import annotations

from signup.organisers.check.live import Answer, Http
from signup.organisers.check.report import Result, Status

URL, HEALTH, SIGN_IN, CROSS_SITE = "organise.url", "organise.health", "organise.sign_in", "organise.cross_site"
# What the page's answers must carry (organise/web.py).
PAGE_HEADERS = {"X-Content-Type-Options": "nosniff", "Cache-Control": "no-store", "Referrer-Policy": "same-origin"}
_FIX = "See the function's log (Cloud Logging, `organise`): a 503 `misconfigured` names the setting."


def not_configured() -> Result:
    return Result(
        URL,
        Status.WARN,
        "organisers' page: ORGANISE_URL is not set, so organisers cannot sign in there and get no sign-in links",
        "Deploy with infra/ (it sets ORGANISE_URL for organise and notify), or give --organise-url.",
    )


def check_organise(http: Http) -> list[Result]:
    health = http.ask("GET", "/healthz")
    if health.status != 200 or health.body.strip() != "ok":
        return [_failed(HEALTH, "organisers' page health", health, "200 ok")]
    results = [
        Result(HEALTH, Status.PASS, f"organisers' page: {http.base_url}/healthz answers ok", seconds=health.seconds)
    ]
    page = http.ask("GET", "/", {"Accept-Language": "nl"})
    wrong = {name: page.headers.get(name) for name, value in PAGE_HEADERS.items() if page.headers.get(name) != value}
    policy = page.headers.get("Content-Security-Policy") or ""
    if page.status != 200 or 'name="email"' not in page.body or wrong or "frame-ancestors 'none'" not in policy:
        said = ", ".join(f"{name}: {value or 'none'}" for name, value in wrong.items()) or f"CSP: {policy or 'none'}"
        results.append(
            Result(
                SIGN_IN,
                Status.FAIL,
                f"organisers' page: the sign-in page answered {page.status} ({said})",
                _FIX
                if page.status >= 500
                else "Something in front of the function changes its answers: let them through.",
                page.seconds,
            )
        )
    else:
        results.append(
            Result(SIGN_IN, Status.PASS, "organisers' page: the sign-in form, with its headers", seconds=page.seconds)
        )
    posted = http.ask("POST", "/sign-in", {"Origin": "https://signup-check.invalid", "Sec-Fetch-Site": "cross-site"})
    if posted.status != 403:
        results.append(_failed(CROSS_SITE, "organisers' page: a post from another site", posted, "403"))
    else:
        results.append(
            Result(
                CROSS_SITE, Status.PASS, "organisers' page: a post from another site is refused", seconds=posted.seconds
            )
        )
    return results


def _failed(name: str, what: str, answer: Answer, expected: str) -> Result:
    if answer.status == 0:
        fix = "Check the address (`terraform output organise_url`) and that `organise` is deployed."
        return Result(name, Status.FAIL, f"{what}: {answer.error}", fix, answer.seconds)
    return Result(name, Status.FAIL, f"{what}: answered {answer.status}, not {expected}", _FIX, answer.seconds)
