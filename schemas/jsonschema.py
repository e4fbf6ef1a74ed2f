"""Generate the published JSON Schemas of every message's `data` into `schemas/json/` (README "Events").

Run `python -m schemas.jsonschema` after changing a model (it also rewrites `schemas/asyncapi.json`); a test
fails while the shipped files are stale.
`python -m schemas.jsonschema --release` also copies them to `schemas/released/v<major>/`, the baseline
the compatibility test compares against (do it when a version is released, never to silence the test).
"""

from __future__ import annotations

import json
import shutil
import sys
from pathlib import Path

from schemas.contract import MESSAGES
from schemas.dataschema import MAJOR
from schemas.published import published_schema

OUT = Path(__file__).parent / "json"
RELEASED = Path(__file__).parent / "released" / f"v{MAJOR}"


def rendered() -> dict[str, str]:
    return {
        f"{m.type}.schema.json": json.dumps(published_schema(m.type, m.model, strict=m.strict),
                                            indent=2, sort_keys=True) + "\n"
        for m in MESSAGES
    }


def write() -> None:
    OUT.mkdir(exist_ok=True)
    for name, text in rendered().items():
        (OUT / name).write_text(text)


def release() -> None:
    RELEASED.mkdir(parents=True, exist_ok=True)
    for name in rendered():
        shutil.copyfile(OUT / name, RELEASED / name)


if __name__ == "__main__":
    write()
    from schemas import asyncapi  # the AsyncAPI document embeds these schemas: keep it current too

    asyncapi.OUT.write_text(asyncapi.rendered())
    if "--release" in sys.argv[1:]:
        release()
