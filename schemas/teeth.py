"""Tooth numbering: Universal (1–32, iTero AdaId and 3Shape UNN) ↔ FDI (11–48, Medit toothNo).

Universal runs from the upper right third molar (1) to the upper left (16), then from the lower
left third molar (17) to the lower right (32); FDI names quadrant (1 upper right, 2 upper left,
3 lower left, 4 lower right) then position from the midline (1 central incisor … 8 third molar).
"""

_UNIVERSAL_TO_FDI: dict[int, int] = {
    **{u: 10 + (9 - u) for u in range(1, 9)},  # 1..8 → 18..11
    **{u: 20 + (u - 8) for u in range(9, 17)},  # 9..16 → 21..28
    **{u: 30 + (25 - u) for u in range(17, 25)},  # 17..24 → 38..31
    **{u: 40 + (u - 24) for u in range(25, 33)},  # 25..32 → 41..48
}
_FDI_TO_UNIVERSAL: dict[int, int] = {f: u for u, f in _UNIVERSAL_TO_FDI.items()}


def universal_to_fdi(number: int) -> int:
    try:
        return _UNIVERSAL_TO_FDI[number]
    except KeyError:
        raise ValueError(f"not a Universal tooth number: {number}") from None


def fdi_to_universal(number: int) -> int:
    try:
        return _FDI_TO_UNIVERSAL[number]
    except KeyError:
        raise ValueError(f"not an FDI tooth number: {number}") from None
