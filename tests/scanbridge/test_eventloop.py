"""The loop every long-running command runs on (scanbridge/eventloop.py): uvloop, the start-up objects
frozen out of the garbage collector's walks."""

from __future__ import annotations

import gc

from scanbridge import eventloop


def test_the_loop_is_uvloop_and_what_the_process_made_before_it_is_frozen() -> None:
    class StartUp:
        pass

    made_before = StartUp()

    def collected_walks_it() -> bool:
        return any(o is made_before for o in gc.get_objects())  # the generations, not the frozen objects

    async def main() -> tuple[str, int, bool]:
        return eventloop.describe(), gc.get_freeze_count(), collected_walks_it()

    assert collected_walks_it()
    try:
        loop, frozen, walked = eventloop.run(main())
    finally:
        gc.unfreeze()  # the test process goes on as it was
    assert loop == "uvloop"
    assert frozen > 0 and not walked
