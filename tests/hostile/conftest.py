from __future__ import annotations

import pytest

from hostile.sandbox import SECONDS, Sandbox


@pytest.fixture(scope="session")
def sandbox():
    """One memory-limited process for the session's hostile loads (restarted if a call overruns)."""
    box = Sandbox(timeout=SECONDS * 3)
    yield box
    box.close()
