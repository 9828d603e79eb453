"""The `data_dir` fixture of the tests that start `navixy-panel` processes."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.processes import scratch_folder


@pytest.fixture
def data_dir() -> Iterator[Path]:
    """A folder of the test's own for NAVIXY_PANEL_DATA_DIR; servers left in it are
    stopped and it is deleted afterwards."""
    with scratch_folder("data") as folder:
        yield folder
