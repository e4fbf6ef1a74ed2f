"""Settings of signed HTTP delivery to subscriptions (`[delivery]`; README "Delivering to HTTP endpoints")."""

from __future__ import annotations

from pydantic import Field

from schemas.section import Section


class DeliverySettings(Section):  # unknown keys refused, like every table (README "Configuration")
    enabled: bool = Field(True, description="run the deliverer inside `scanbridge run`")
    group_prefix: str = Field("scanbridge-deliver-", description="consumer group of a subscription: "
                              "this prefix + its id")
    timeout_s: float = Field(10.0, gt=0, description="one attempt: connect, send and answer within this")
    max_response_bytes: int = Field(64 * 1024, gt=0, description="read at most this much of an answer")
    initial_delay_s: float = Field(1.0, gt=0, description="first backoff after a failed attempt")
    max_delay_s: float = Field(600.0, gt=0, description="backoff ceiling (a Retry-After is honoured "
                               "above it, up to max_retry_after_s)")
    max_retry_after_s: float = Field(3600.0, gt=0, description="a longer Retry-After is cut to this")
    disable_after_s: float = Field(
        3 * 86400.0, gt=0, description="an endpoint failing this long is disabled (its events wait on the "
        "bus until `scanbridge subscriptions enable`)")
    max_in_flight: int = Field(16, ge=1, description="deliveries at once per subscription (distinct keys)")
    max_pending: int = Field(1000, ge=1, description="events read ahead per subscription; the consumer waits")
    allow_private: bool = Field(False, description="let every subscription reach private, loopback and "
                                "link-local addresses (development only; per subscription: --allow-private)")
    secret_grace_s: float = Field(86400.0, ge=0, description="after rotate-secret the old secret also signs "
                                  "this long")
    delivered_retention_s: float = Field(7 * 86400.0, gt=0, description="how long delivered event ids are "
                                         "remembered (one delivery per event per subscription)")
    watch_interval_s: float = Field(5.0, gt=0, description="how often added, changed or enabled "
                                    "subscriptions are noticed")
