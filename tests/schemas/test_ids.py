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


def _guid_by_uuid(value: object) -> str | None:
    try:
        return str(uuid.UUID(value.strip()))  # type: ignore[attr-defined]
    except (ValueError, AttributeError):
        return None


SPELLINGS = st.uuids().flatmap(lambda u: st.sampled_from([
    str(u), str(u).upper(), f" {u}\t", f"{{{u}}}", f"urn:uuid:{u}", u.hex, str(u)[:-1], str(u) + "0",
    str(u).replace("-", "_"), str(u)[:8] + "-" + str(u)[9:], "\u0660" + str(u)[1:], str(u) + "\n"]))


@settings(max_examples=500, deadline=None)
@given(value=SPELLINGS | st.text(alphabet="0123456789abcdefABCDEF-{}: ", max_size=40) | st.integers())
def test_canonical_guid_reads_every_spelling_as_uuid_does(value: object) -> None:
    assert ids.canonical_guid(value) == _guid_by_uuid(value)  # type: ignore[arg-type]
