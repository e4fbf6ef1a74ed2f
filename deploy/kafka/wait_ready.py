"""Wait until a Kafka broker answers a metadata request; exit 1 if its process dies or time runs out."""

import asyncio
import logging
import os
import sys
import time

from aiokafka.admin import AIOKafkaAdminClient


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


async def main(bootstrap: str, pid: int, timeout: float) -> int:
    logging.getLogger("aiokafka").setLevel(logging.CRITICAL)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not alive(pid):
            return 1
        admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap, request_timeout_ms=3000)
        try:
            await admin.start()
            await admin.describe_cluster()
            return 0
        except Exception:  # noqa: BLE001 - not ready yet, whatever the reason
            await asyncio.sleep(0.5)
        finally:
            await admin.close()
    return 1


if __name__ == "__main__":
    sys.exit(asyncio.run(main(sys.argv[1], int(sys.argv[2]), float(sys.argv[3]))))
