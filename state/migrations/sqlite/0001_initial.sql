-- The state store's first schema (SQLite). Times are epoch milliseconds; sealed columns hold Fernet tokens.
CREATE TABLE meta (name TEXT PRIMARY KEY, value INTEGER NOT NULL);
INSERT INTO meta (name, value) VALUES ('connections_revision', 0);

CREATE TABLE connections (
    vendor TEXT NOT NULL, conn TEXT NOT NULL, source TEXT NOT NULL, sealed TEXT NOT NULL,
    revision INTEGER NOT NULL, PRIMARY KEY (vendor, conn));

CREATE TABLE health (
    vendor TEXT NOT NULL, conn TEXT NOT NULL, status TEXT NOT NULL,
    last_success_ms INTEGER, last_error_ms INTEGER, last_error TEXT, failing_since_ms INTEGER,
    PRIMARY KEY (vendor, conn));

CREATE TABLE credentials (
    vendor TEXT NOT NULL, conn TEXT NOT NULL, sealed TEXT NOT NULL, version INTEGER NOT NULL,
    PRIMARY KEY (vendor, conn));

CREATE TABLE leases (
    vendor TEXT NOT NULL, conn TEXT NOT NULL, owner TEXT, token INTEGER NOT NULL,
    expires_ms INTEGER NOT NULL, PRIMARY KEY (vendor, conn));

CREATE TABLE entries (
    vendor TEXT NOT NULL, conn TEXT NOT NULL, name TEXT NOT NULL, value TEXT NOT NULL,
    version INTEGER NOT NULL, PRIMARY KEY (vendor, conn, name));

CREATE TABLE map_items (
    vendor TEXT NOT NULL, conn TEXT NOT NULL, map TEXT NOT NULL, item TEXT NOT NULL, value TEXT NOT NULL,
    updated_ms INTEGER NOT NULL, PRIMARY KEY (vendor, conn, map, item));
CREATE INDEX map_items_age ON map_items (vendor, conn, map, updated_ms);

CREATE TABLE set_members (
    vendor TEXT NOT NULL, conn TEXT NOT NULL, name TEXT NOT NULL, member TEXT NOT NULL,
    seq INTEGER NOT NULL, PRIMARY KEY (vendor, conn, name, member));

CREATE TABLE markers (
    vendor TEXT NOT NULL, account TEXT NOT NULL, order_id TEXT NOT NULL, version TEXT NOT NULL,
    file TEXT NOT NULL, data TEXT NOT NULL, created_ms INTEGER NOT NULL,
    PRIMARY KEY (vendor, account, order_id, version, file));

CREATE TABLE oauth_states (
    state_hash TEXT PRIMARY KEY, sealed TEXT NOT NULL, expires_ms INTEGER NOT NULL);
