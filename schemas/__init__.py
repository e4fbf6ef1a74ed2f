"""Event models, topic names and settings shared by every scanbridge process (DESIGN.md §2)."""
