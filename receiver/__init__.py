"""The webhook receiver: thin ASGI app that authenticates, validates and publishes (DESIGN.md §3)."""
