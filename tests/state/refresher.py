"""A process of the cross-process refresh test: `python -m tests.state.refresher SETTINGS_JSON WORKDIR TASKS`.

It opens the store the test made (credentials key from SCANBRIDGE_CREDENTIALS_KEYS), says it is ready,
waits for the go signal, then refreshes the same connection's credentials from TASKS tasks at once. Each
call of the refresh callable appends a line to WORKDIR/calls; each task's resulting token goes to stdout.
"""

from __future__ import annotations

import asyncio
import os
import sys
from pathlib import Path

from schemas.settings import StateSettings
from state.base import ConnectionKey, Credentials
from state.factory import make_state_store

KEY = ConnectionKey("itero", "shared")


async def main(settings: StateSettings, workdir: Path, tasks: int) -> None:
    store = make_state_store(settings)
    await store.start()
    (workdir / f"ready-{os.getpid()}").touch()
    while not (workdir / "go").exists():  # a file: the one signal all processes see
        await asyncio.sleep(0.005)

    async def refresh(current: Credentials) -> Credentials:
        with open(workdir / "calls", "a") as calls:  # noqa: ASYNC230 - one line, the test's own count
            calls.write(f"{os.getpid()} {current.refresh_token}\n")
        await asyncio.sleep(0.2)  # a vendor's token endpoint takes a while: the others arrive meanwhile
        return Credentials("fresh", "refresh-2")

    try:
        results = await asyncio.gather(*(
            store.credentials.refresh(KEY, lambda c: c.access_token == "stale", refresh) for _ in range(tasks)
        ))
    finally:
        await store.close()
    print("\n".join(r.access_token for r in results))


if __name__ == "__main__":
    asyncio.run(main(StateSettings.model_validate_json(sys.argv[1]), Path(sys.argv[2]), int(sys.argv[3])))
