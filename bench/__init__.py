"""Benchmarks: each measures against a floor run in the same process on the same machine."""
