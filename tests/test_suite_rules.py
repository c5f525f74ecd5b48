"""The suite's own rules: a tool a test needs fails it under CI instead of skipping it, and
the worker pass counter that "nothing happened" waits on proves a worker looked."""

from __future__ import annotations

import pytest
from conftest import missing_tool

from gateway.background import Worker


def test_a_missing_tool_skips_here_and_fails_under_ci(monkeypatch):
    monkeypatch.delenv("CI", raising=False)
    with pytest.raises(pytest.skip.Exception, match="Debian package"):
        missing_tool("x is not installed (Debian package x)")
    monkeypatch.setenv("CI", "true")
    with pytest.raises(pytest.fail.Exception, match="CI must run the tests that need it"):
        missing_tool("x is not installed (Debian package x)")


class Counting(Worker):
    def __init__(self, fail: bool = False) -> None:
        super().__init__("counting")
        self.fail = fail

    def tick(self) -> float:
        if self.fail:
            raise RuntimeError("a pass that raised")
        return 0.01


def test_wait_for_passes_counts_only_passes_that_completed():
    worker = Counting()
    assert not worker.wait_for_passes(1, 0.05)  # never started: no pass, and the wait says so
    worker.start()
    try:
        assert worker.wait_for_passes(worker.passes + 2, 5)
    finally:
        worker.stop()
    failing = Counting(fail=True)
    failing.error_delay = 0.01
    failing.start()
    try:
        assert not failing.wait_for_passes(1, 0.2)  # a pass that raised did not look at anything
    finally:
        failing.stop()
