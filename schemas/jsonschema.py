"""Generate the JSON Schemas of the event `data` models into `schemas/json/` (DESIGN.md §2).

Run `python -m schemas.jsonschema` after changing a model; a test fails while the shipped files are stale.
"""

from __future__ import annotations

import json
from pathlib import Path

from schemas.events import EVENT_MODELS

OUT = Path(__file__).parent / "json"


def rendered() -> dict[str, str]:
    return {
        f"{event_type}.schema.json": json.dumps(model.model_json_schema(), indent=2, sort_keys=True) + "\n"
        for event_type, model in EVENT_MODELS.items()
    }


def write() -> None:
    OUT.mkdir(exist_ok=True)
    for name, text in rendered().items():
        (OUT / name).write_text(text)


if __name__ == "__main__":
    write()
