"""N3's client side: smtp-source has no AUTH, so each of its connections goes through
this loopback forwarder, which logs in to navixy-panel's submission listener with a
dealer's login and key and then copies bytes both ways (the test suite's
`authenticating_forwarder`, in a process of its own so it never competes with the
benchmark's own process for the GIL).

    python forwarder.py LISTEN_PORT TARGET_PORT LOGIN KEY
"""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from tests.support.submission import authenticating_forwarder  # noqa: E402


async def main(listen: int, target: int, login: str, key: str) -> None:
    async with authenticating_forwarder(target, login, key, port=listen):
        await asyncio.Event().wait()


if __name__ == "__main__":
    asyncio.run(main(int(sys.argv[1]), int(sys.argv[2]), sys.argv[3], sys.argv[4]))
