"""Which handler works on which vendor's events. Adding a vendor adds one line here."""

from __future__ import annotations

from consumers.context import Handler
from consumers.itero.handler import IteroHandler
from consumers.meditlink.handler import MeditHandler
from consumers.threeshape.handler import ThreeShapeHandler
from schemas.settings import Settings


def build_handlers(settings: Settings) -> dict[str, Handler]:
    itero = IteroHandler(settings)
    return {"itero": itero, "align": itero, "meditlink": MeditHandler(settings),
            "3shape": ThreeShapeHandler(settings)}
