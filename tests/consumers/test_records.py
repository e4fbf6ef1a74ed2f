"""Vendor JSON read tolerantly: names in any letter case or snake_case, numbers as strings."""

from __future__ import annotations

from consumers.records import as_int, as_text, ci_get


def test_names_match_in_any_letter_case_and_with_underscores_or_hyphens_ignored() -> None:
    for record in ({"orderNumber": 7}, {"ORDERNUMBER": 7}, {"order_number": 7}, {"Order-Number": 7}):
        assert ci_get(record, "orderNumber") == 7
    assert ci_get({"case": {"uuid": "c"}}, "Case") == {"uuid": "c"}


def test_numbers_may_come_as_strings() -> None:
    assert as_text(3706720.0) == "3706720" and as_text(" 3706720 ") == "3706720"
    assert as_int("3706720") == 3706720 and as_int("n/a") is None
