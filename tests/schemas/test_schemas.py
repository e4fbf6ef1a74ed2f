"""Shipped JSON Schemas match the models; tooth numbering converts both ways; ids are deterministic."""

from __future__ import annotations

import pytest

from schemas import ids
from schemas.events import Order
from schemas.jsonschema import OUT, rendered
from schemas.teeth import fdi_to_universal, universal_to_fdi


def test_the_shipped_json_schemas_are_generated_from_the_current_models() -> None:
    for name, text in rendered().items():
        assert (OUT / name).read_text() == text, f"run `python -m schemas.jsonschema` ({name} is stale)"


@pytest.mark.parametrize(("universal", "fdi"), [(1, 18), (8, 11), (9, 21), (16, 28), (17, 38), (24, 31),
                                                (25, 41), (32, 48), (30, 46), (3, 16)])
def test_universal_and_fdi_numbers_convert_both_ways(universal: int, fdi: int) -> None:
    assert universal_to_fdi(universal) == fdi
    assert fdi_to_universal(fdi) == universal


def test_every_tooth_maps_one_to_one() -> None:
    assert sorted(fdi_to_universal(universal_to_fdi(u)) for u in range(1, 33)) == list(range(1, 33))
    with pytest.raises(ValueError):
        universal_to_fdi(33)
    with pytest.raises(ValueError):
        fdi_to_universal(19)


def test_event_ids_depend_on_every_part_and_nothing_else() -> None:
    base = ids.event_id("order.updated", "itero", "1", "rx", "v1")
    assert base == ids.event_id("order.updated", "itero", "1", "rx", "v1")
    variants = {ids.event_id(*p) for p in [("order.updated", "itero", "1", "rx", "v2"),
                                           ("order.updated", "itero", "2", "rx", "v1"),
                                           ("order.updated", "align", "1", "rx", "v1"),
                                           ("scan.notified", "itero", "1", "rx", "v1")]}
    assert base not in variants and len(variants) == 4


def test_an_event_validation_error_names_the_field_but_never_echoes_its_value() -> None:
    with pytest.raises(ValueError) as caught:
        Order(vendor="itero", account="a", connection="c", order_id="1", stage="scanned", version="v",
              vendor_record={}, patient={"first_name": "Jane", "last_name": 4711, "chart_number": ["C-99"]})
    text = str(caught.value)
    assert "patient.last_name" in text and "patient.chart_number" in text
    assert "4711" not in text and "C-99" not in text
