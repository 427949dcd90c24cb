"""Local tooling: the emulator, the demo data and the `make dev` runner."""
