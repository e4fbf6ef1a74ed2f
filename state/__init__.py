"""The state store: what every process and host of scanbridge must agree on (DESIGN.md §7)."""
