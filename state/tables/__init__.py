"""The state store written once in SQL over `state.db.Database` (SQLite and PostgreSQL alike)."""
