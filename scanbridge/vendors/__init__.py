"""The registered vendors: one line per vendor (README "Adding a vendor"). Only the composition root
(`scanbridge/`) reads this list; receiver, worker, pollers and CLI get what they need from it."""

from scanbridge.plugin import VendorPlugin
from scanbridge.vendors import itero, meditlink, threeshape

VENDORS: list[VendorPlugin] = [
    itero.PLUGIN,
    meditlink.PLUGIN,
    threeshape.PLUGIN,
]
