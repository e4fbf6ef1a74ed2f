"""Build the configured state store backend (DESIGN.md §7): SQLite by default, PostgreSQL to scale out."""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence

from schemas.settings import StateSettings
from state.db import Database
from state.errors import KeyMissing
from state.seal import Sealer, load_keys, local_key
from state.sqlite import SqliteDatabase
from state.store import SqlStateStore


def make_state_store(
    settings: StateSettings, *, keys: Sequence[str] | None = None, environ: Mapping[str, str] = os.environ
) -> SqlStateStore:
    """The configured store, not yet started. Credentials keys: `keys`, else the environment variable or
    secret file the settings name; a SQLite store without either makes its own key file beside it."""
    found = list(keys) if keys is not None else load_keys(settings.credentials_key_env,
                                                           settings.credentials_key_file, environ)
    db: Database
    if settings.backend == "postgres":
        if settings.dsn is None:
            raise ValueError("state.backend = 'postgres' needs state.dsn")
        if not found:
            raise KeyMissing(
                f"the postgres state store needs a credentials key shared by every host: set "
                f"{settings.credentials_key_env} or state.credentials_key_file (see README, State store)"
            )
        from state.postgres import PostgresDatabase  # psycopg only when PostgreSQL is configured

        db = PostgresDatabase(settings.dsn.get_secret_value(), max_connections=settings.max_connections,
                              timeout_s=settings.timeout_s)
    else:
        if not found:
            found = local_key(settings.path.with_name(f"{settings.path.name}.key"))
        db = SqliteDatabase(settings.path)
    return SqlStateStore(db, Sealer(found))
