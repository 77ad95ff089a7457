"""Fault injection for the crash tests: `BANGLASIM_KILL_AT=<point>[:<n>]` SIGKILLs the process at the n-th
time (default 1st) it passes that point. Points: `train-step`, `checkpoint` (weights written, checkpoint
not yet marked complete), `publish` (between the renames of a publish). Unset, it does nothing."""

from __future__ import annotations

import os
import signal

ENV = "BANGLASIM_KILL_AT"
_passed: dict[str, int] = {}


def kill_point(name: str) -> None:
    """SIGKILL this process here if BANGLASIM_KILL_AT names this point and its count is reached."""
    wanted = os.environ.get(ENV)
    if not wanted:
        return
    point, _, count = wanted.partition(":")
    if point != name:
        return
    _passed[name] = _passed.get(name, 0) + 1
    if _passed[name] >= int(count or 1):
        os.kill(os.getpid(), signal.SIGKILL)
