"""The `webitel` fixture: every Webitel test checks that no secret came back."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from tests.support.api import Api
from tests.support.webitel import Webitel


@pytest.fixture
async def webitel(api: Api) -> AsyncIterator[Webitel]:
    face = Webitel(api)
    yield face
    if face.texts:
        face.assert_no_secret()
