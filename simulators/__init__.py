"""Vendor cloud simulators written from the vendor docs (DESIGN.md §5.5)."""
