"""What a server costs: CPU seconds and peak memory of every process in its process group, from /proc."""

from __future__ import annotations

import os
from pathlib import Path

_TICKS = os.sysconf("SC_CLK_TCK")


def _group(leader: int) -> list[Path]:
    members = []
    for proc in Path("/proc").glob("[0-9]*"):
        try:
            if os.getpgid(int(proc.name)) == leader:
                members.append(proc)
        except OSError:
            continue
    return members


def cpu_seconds(leader: int) -> float:
    """User and system CPU time used so far by the process group `leader` leads (all threads)."""
    total = 0
    for proc in _group(leader):
        try:
            # The command name in parentheses may hold spaces: count the fields after its closing one.
            fields = (proc / "stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        total += int(fields[11]) + int(fields[12])  # utime, stime: fields 14 and 15 of proc(5)
    return total / _TICKS


def peak_memory_kib(leader: int) -> int:
    """Peak resident memory (VmHWM) summed over the process group."""
    total = 0
    for proc in _group(leader):
        try:
            fields = dict(line.split(":", 1) for line in (proc / "status").read_text().splitlines() if ":" in line)
            total += int(fields["VmHWM"].split()[0])
        except (OSError, KeyError, ValueError):
            continue
    return total
