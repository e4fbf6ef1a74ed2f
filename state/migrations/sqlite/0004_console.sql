-- The operator console (README "Console"): what operators did, and an index of orders fed from the events
-- and artifacts topics. Patient fields and event summaries are sealed (`sealed`); ids and times are clear.
CREATE TABLE audit_log (
    seq INTEGER PRIMARY KEY, at_ms INTEGER NOT NULL, actor TEXT NOT NULL, action TEXT NOT NULL,
    target TEXT NOT NULL, detail TEXT NOT NULL);

CREATE TABLE orders (
    vendor TEXT NOT NULL, account TEXT NOT NULL, order_id TEXT NOT NULL, rx_id TEXT, case_id TEXT,
    order_code TEXT, stage TEXT, version TEXT, first_ms INTEGER NOT NULL, last_ms INTEGER NOT NULL,
    events INTEGER NOT NULL, artifacts INTEGER NOT NULL, sealed TEXT NOT NULL,
    PRIMARY KEY (vendor, account, order_id));
CREATE INDEX orders_last ON orders (last_ms);
CREATE INDEX orders_account ON orders (vendor, account, last_ms);
CREATE INDEX orders_rx ON orders (rx_id);
CREATE INDEX orders_case ON orders (case_id);
CREATE INDEX orders_code ON orders (order_code);
CREATE INDEX orders_id ON orders (order_id);

CREATE TABLE order_events (
    vendor TEXT NOT NULL, account TEXT NOT NULL, order_id TEXT NOT NULL, event_id TEXT NOT NULL,
    type TEXT NOT NULL, version TEXT, at_ms INTEGER NOT NULL, sealed TEXT NOT NULL,
    PRIMARY KEY (vendor, account, order_id, event_id));
