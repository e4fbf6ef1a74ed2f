"""Event ids written without `uuid.UUID` objects (issue 16) are the very text `uuid` gives."""

from __future__ import annotations

import uuid

from hypothesis import given, settings
from hypothesis import strategies as st

from schemas import ids


@settings(max_examples=500, deadline=None)
@given(parts=st.tuples(*[st.text(max_size=40)] * 5))
def test_event_id_is_the_text_of_uuid5_of_the_joined_parts(parts: tuple[str, str, str, str, str]) -> None:
    try:
        "\x1f".join(parts).encode()
    except UnicodeEncodeError:  # a lone surrogate: uuid5 refuses it too
        return
    assert ids.event_id(*parts) == str(uuid.uuid5(ids._NAMESPACE, "\x1f".join(parts)))


def test_random_ids_are_version_4_uuids_in_their_usual_text() -> None:
    seen = {ids.random_id() for _ in range(2000)}
    assert len(seen) == 2000
    for text in seen:
        parsed = uuid.UUID(text)
        assert (parsed.version, parsed.variant, str(parsed)) == (4, uuid.RFC_4122, text)
