-- HTTP subscriptions (README "Delivering to HTTP endpoints"): settings sealed (URL and signing secrets),
-- state in the clear; what was delivered to each; what each refused for good (its dead letters).
INSERT INTO meta (name, value) VALUES ('subscriptions_revision', 0);

CREATE TABLE subscriptions (
    id TEXT PRIMARY KEY, sealed TEXT NOT NULL, status TEXT NOT NULL, created_ms BIGINT NOT NULL,
    failing_since_ms BIGINT, last_error TEXT, disabled_ms BIGINT, revision BIGINT NOT NULL);

CREATE TABLE deliveries (
    subscription TEXT NOT NULL, event_id TEXT NOT NULL, delivered_ms BIGINT NOT NULL,
    PRIMARY KEY (subscription, event_id));
CREATE INDEX deliveries_age ON deliveries (delivered_ms);

CREATE TABLE delivery_dead_letters (
    subscription TEXT NOT NULL, event_id TEXT NOT NULL, topic TEXT NOT NULL, event TEXT NOT NULL,
    reason TEXT NOT NULL, attempts BIGINT NOT NULL, created_ms BIGINT NOT NULL,
    PRIMARY KEY (subscription, event_id));
