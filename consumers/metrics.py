"""Prometheus metrics of the worker and the pollers (issue 14 item 2). Labels are bounded and carry no
patient data or token: vendor, connection name (configuration), outcome, error class."""

from prometheus_client import Counter, Gauge, Histogram

WORKER_EVENTS = Counter("scanbridge_worker_events_total", "Worker deliveries by outcome", ["outcome"])
ORDERS_IN_FLIGHT = Gauge("scanbridge_orders_in_flight", "Orders (scan.notified events) being worked on now")
RETRIES = Counter("scanbridge_retries_total", "Vendor or store calls retried, by reason (the error class)",
                  ["reason"])
DEAD_LETTERS = Counter("scanbridge_dead_letters_total",
                       "Events the worker dead-lettered, by reason (the error class)", ["reason"])
POLLS = Counter("scanbridge_polls_total", "Poll rounds by vendor, connection and outcome (ok, error)",
                ["vendor", "connection", "outcome"])
POLL_LAST_SUCCESS = Gauge("scanbridge_poll_last_success_timestamp_seconds",
                          "Unix time of the connection's last successful poll round",
                          ["vendor", "connection"])
POLL_ERRORS = Counter("scanbridge_poll_errors_total", "Failed poll rounds by vendor and kind (vendor: the "
                      "vendor call; state_unavailable, corrupt_state, stale_lease: the state store)",
                      ["vendor", "kind"])
LEASE_EVENTS = Counter("scanbridge_poller_leases_total", "Connection leases of this poller instance by "
                       "vendor and event (acquired, lost, released)", ["vendor", "event"])
LEASES_HELD = Gauge("scanbridge_poller_leases_held", "Connection leases this poller instance holds now")
DOWNLOAD_BYTES = Histogram("scanbridge_download_bytes", "Size of downloaded artifacts", ["vendor"],
                           buckets=(1e4, 1e5, 1e6, 1e7, 5e7, 1e8, 5e8, 1e9, 4e9))
DOWNLOAD_SECONDS = Histogram("scanbridge_download_seconds", "Duration of artifact downloads", ["vendor"],
                             buckets=(0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 900))
TOKEN_REFRESHES = Counter("scanbridge_token_refreshes_total", "Access-token refreshes by vendor and outcome",
                          ["vendor", "outcome"])


def poll_outcome(vendor: str, connection: str, ok: bool, now: float) -> None:
    POLLS.labels(vendor, connection, "ok" if ok else "error").inc()
    if ok:
        POLL_LAST_SUCCESS.labels(vendor, connection).set(now)
