"""Bounded fuzzing: hypothesis settings for a 2-core CI box, and a count of the cases run.

Each fuzz test says how many examples it wants through `examples(n)`; `FUZZ_SCALE=10` (an
environment variable) multiplies them all for a longer hunt. No example database is kept
(a failure prints the blob that reproduces it), no deadline (a slow shared runner is not a
bug). Tests report the cases they ran through the `fuzz_cases` fixture; the terminal summary
adds them up, per test and in total, so a run says how much fuzzing it did.
"""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest
from hypothesis import HealthCheck, settings

settings.register_profile(
    "lrs-fuzz",
    deadline=None,
    database=None,
    print_blob=True,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large,
                           HealthCheck.function_scoped_fixture, HealthCheck.filter_too_much],
)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "lrs-fuzz"))


def examples(count: int) -> int:
    """`count` examples, times FUZZ_SCALE (default 1)."""
    return max(1, int(count * float(os.environ.get("FUZZ_SCALE", "1"))))


class Cases:
    """Counts the examples a test really ran (hypothesis may stop early or run extra)."""

    def __init__(self) -> None:
        self.count = 0

    def __call__(self) -> None:
        self.count += 1


@pytest.fixture
def fuzz_cases(request: pytest.FixtureRequest) -> Iterator[Cases]:
    cases = Cases()
    yield cases
    request.node.user_properties.append(("fuzz_cases", cases.count))


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    counts: dict[str, int] = {}
    for reports in terminalreporter.stats.values():
        for report in reports:
            for name, value in getattr(report, "user_properties", ()):
                if name == "fuzz_cases":
                    counts[report.nodeid] = max(counts.get(report.nodeid, 0), int(value))
    if not counts:
        return
    terminalreporter.section("fuzz cases run")
    for nodeid, count in sorted(counts.items()):
        terminalreporter.write_line(f"{count:>6}  {nodeid}")
    terminalreporter.write_line(f"{sum(counts.values()):>6}  in total ({len(counts)} fuzz tests)")
