"""Options of the fault suite (`--runs N`, `--fault-seed S|random`) and its summary report."""

import random
from collections.abc import Callable

import pytest

DEFAULT_SEED = 20261201
_SEED_KEY = pytest.StashKey[int]()
_SUMMARY_KEY = pytest.StashKey[list[str]]()


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("faults", "fault suite (tests/faults)")
    group.addoption(
        "--runs",
        type=int,
        default=1,
        help="run every fault test N times (default 1)",
    )
    group.addoption(
        "--fault-seed",
        default=str(DEFAULT_SEED),
        help=f"seed of every workload choice (default {DEFAULT_SEED}); 'random' picks one",
    )


def pytest_configure(config: pytest.Config) -> None:
    raw = str(config.getoption("--fault-seed", default=str(DEFAULT_SEED)))
    seed = random.SystemRandom().randrange(1, 2**31) if raw == "random" else int(raw)
    config.stash[_SEED_KEY] = seed
    config.stash[_SUMMARY_KEY] = []


def pytest_report_header(config: pytest.Config) -> str:
    return f"fault seed: {config.stash[_SEED_KEY]} (--fault-seed {config.stash[_SEED_KEY]})"


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    if "run_index" in metafunc.fixturenames:
        runs = max(1, int(metafunc.config.getoption("--runs")))
        metafunc.parametrize("run_index", range(1, runs + 1), ids=lambda n: f"run{n}")


@pytest.fixture
def fault_seed(request: pytest.FixtureRequest) -> int:
    return request.config.stash[_SEED_KEY]


@pytest.fixture
def fault_report(request: pytest.FixtureRequest) -> Callable[[str], None]:
    """Record one summary line; all of them are printed at the end of the session."""

    def report(line: str) -> None:
        request.config.stash[_SUMMARY_KEY].append(line)
        print(line)

    return report


@pytest.fixture(autouse=True)
def _clean_slate() -> None:
    # Replaces the autouse fixture of shop_common.testing.plugin (loaded for every pytest
    # run by pyproject's addopts): this suite has no service database of its own to empty.
    return


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    config = terminalreporter.config
    lines = config.stash.get(_SUMMARY_KEY, [])
    if not lines:
        return
    terminalreporter.section("fault summaries")
    terminalreporter.write_line(f"fault seed: {config.stash[_SEED_KEY]}")
    for line in lines:
        terminalreporter.write_line(line)
