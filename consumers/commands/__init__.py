"""The write side (DESIGN.md §10): commands from downstream services executed once against the vendor."""
