"""Benchmarks: each measures against a floor run in the same process on the same machine."""

# base64 of "signup bench: a key that is no secret at all": a key must be at least 32 bytes, as base64 or hex.
BENCH_SIGNING_KEY = "c2lnbnVwIGJlbmNoOiBhIGtleSB0aGF0IGlzIG5vIHNlY3JldCBhdCBhbGw="
# The steps of a sign-up that bench/tail_probe.py times, in the order it records them.
TAIL_STEPS = ("session", "seat", "limiter", "commit", "log")
