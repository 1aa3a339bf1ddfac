"""Fixtures of the benchmark's own tests (they need no database, Redis or service)."""

import pytest


@pytest.fixture(autouse=True)
def _clean_slate() -> None:
    # Replaces the autouse fixture of shop_common.testing.plugin (loaded for every pytest
    # run), which empties a service's tables: these tests have none.
    return None
