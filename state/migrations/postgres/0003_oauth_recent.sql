-- Pending OAuth states name their connection (not secret), so a redirect that comes back without its
-- `state` can be bound to the one recent authorization of an opted-in connection.
ALTER TABLE oauth_states ADD COLUMN vendor TEXT;
ALTER TABLE oauth_states ADD COLUMN conn TEXT;
ALTER TABLE oauth_states ADD COLUMN created_ms BIGINT;
CREATE INDEX oauth_states_connection ON oauth_states (vendor, conn, created_ms);
