"""Workers, pollers, vendor API clients and artifact storage (DESIGN.md §3)."""
