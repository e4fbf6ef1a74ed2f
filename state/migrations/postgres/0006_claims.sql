-- Order claims (issue 12 item 7): one worker at a time handles an order, across processes and hosts.
-- A row lives while its order is worked on: deleted on release; a lapsed one is replaced by the next
-- holder (a new token), so the table holds about one row per order in flight.
CREATE TABLE claims (
    name TEXT PRIMARY KEY, owner TEXT NOT NULL, token TEXT NOT NULL, expires_ms BIGINT NOT NULL);
