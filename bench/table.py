"""Render the bench results as one plain-text table: figure, scanbridge, ceiling, ratio, target."""

from __future__ import annotations

from typing import Any

TARGETS = {"ingest": 0.7, "publish": 0.8, "download": 0.9, "s3": 0.9}
MISSING_LOCAL = "n/a: local backend missing"


def _size(n: int) -> str:
    for unit, factor in (("GB", 1024**3), ("MB", 1024**2), ("KB", 1024)):
        if n >= factor:
            return f"{n / factor:g} {unit}"
    return f"{n} B"


def _verdict(value: float | None, target: float) -> str:
    if value is None:
        return "-"
    return f"{value:.2f} {'ok' if value >= target else 'BELOW'} (≥ {target:.2f})"


def _rows(results: dict[str, Any]) -> list[tuple[str, str, str, str]]:
    rows: list[tuple[str, str, str, str]] = []
    ingest = results.get("ingest", [])
    bare = {r["connections"]: r for r in ingest if r["server"] == "bare"}
    for r in ingest:
        if r["server"] == "bare":
            continue
        ceiling = bare[r["connections"]]
        rows.append((f"ingest {r['server'].removeprefix('receiver/')} c={r['connections']}",
                     f"{r['rps']:,.0f} req/s p50 {r['p50_ms']:.1f} p99 {r['p99_ms']:.1f} ms"
                     + (f" CPU {r['cpu_us']:.0f} µs/req" if "cpu_us" in r else "")
                     + (f" ({r['errors']} errors)" if r["errors"] else ""),
                     f"bare {ceiling['rps']:,.0f} req/s p50 {ceiling['p50_ms']:.1f} "
                     f"p99 {ceiling['p99_ms']:.1f} ms"
                     + (f" CPU {ceiling['cpu_us']:.0f} µs/req" if "cpu_us" in ceiling else ""),
                     _verdict(r["ratio"], TARGETS["ingest"])))
    if ingest and not results.get("local_backend"):
        rows.append(("ingest local", MISSING_LOCAL, "", ""))
    publish = results.get("publish", [])
    for r in publish:
        raw = "raw aiokafka" if r["backend"] == "kafka" else "raw sqlite3"
        rows.append((f"publish {r['backend']} x{r['publishers']}",
                     f"{r['bus']['eps']:,.0f} ev/s p99 {r['bus']['p99_ms']:.1f} ms",
                     f"{raw} {r['raw']['eps']:,.0f} ev/s p99 {r['raw']['p99_ms']:.1f} ms",
                     _verdict(r["ratio"], TARGETS["publish"])))
    if publish and not results.get("local_backend"):
        rows.append(("publish local", MISSING_LOCAL, "", ""))
    for r in results.get("download", []):
        s, p = r["scanbridge"], r["plain"]
        rows.append((f"download {_size(r['size'])}" + (f" x{r['repeat']}" if r["repeat"] > 1 else ""),
                     f"{s['mb_s']:,.0f} MB/s peak RSS {s['peak_rss_mb']:.0f} MB",
                     f"plain httpx {p['mb_s']:,.0f} MB/s peak RSS {p['peak_rss_mb']:.0f} MB",
                     _verdict(r["ratio"], TARGETS["download"])))
    for r in results.get("s3", []):
        s, p = r["scanbridge"], r["plain"]
        rows.append((f"download → S3 {_size(r['size'])}" + (f" x{r['repeat']}" if r["repeat"] > 1 else ""),
                     f"{s['mb_s']:,.0f} MB/s peak RSS {s['peak_rss_mb']:.0f} MB",
                     f"plain multipart upload {p['mb_s']:,.0f} MB/s peak RSS {p['peak_rss_mb']:.0f} MB",
                     _verdict(r["ratio"], TARGETS["s3"])))
    for r in results.get("route", []):
        ceiling = "read of the file" if r["backend"] == "folder" else "pre-signed GET, no route"
        rows.append((f"artifact route {r['backend']} {_size(r['size'])} x{r['repeat']}",
                     f"{r['route']['mb_s']:,.0f} MB/s",
                     f"{ceiling} {r['store']['mb_s']:,.0f} MB/s",
                     "-" if r.get("ratio") is None else f"{r['ratio']:.2f}"))
    e2e = results.get("e2e")
    if e2e:
        rows.append((f"end to end {e2e['scans']} x {_size(e2e['size_bytes'])} @ {e2e['rate_per_s']:g}/s",
                     f"p50 {e2e['p50_ms']:,.0f} p99 {e2e['p99_ms']:,.0f} ms "
                     f"({e2e['completed']}/{e2e['scans']} done, {e2e['failed']} failed, "
                     f"{e2e['total_s']:.0f} s)",
                     "target p99 < 1000 ms",
                     "ok" if e2e["p99_ms"] < 1000 and e2e["completed"] == e2e["scans"] else "BELOW"))
    for r in results.get("delivery", []):
        per_s, ceiling = r.get("deliveries_per_s"), r.get("ceiling_per_s")
        rows.append((f"deliveries {r['backend']} {r['events']} events / {r['keys']} keys",
                     f"{per_s or 0:,.0f} deliveries/s ({r['delivered']}/{r['events']} delivered)",
                     f"signed POSTs x16 {ceiling or 0:,.0f}/s",
                     "-" if r.get("ratio") is None else f"{r['ratio']:.2f}"))
        rows.append((f"webhook → delivery {r['backend']} {r['webhooks']} @ {r['rate']:g}/s",
                     f"p50 {r['p50_ms']:,.0f} p99 {r['p99_ms']:,.0f} ms ({r['latency_n']}/{r['webhooks']})",
                     "", ""))
    for r in results.get("orders", []):
        for q in r["queries"]:
            rows.append((f"orders search {r['backend']}, {r['orders']:,} orders: {q['query']}",
                         f"p50 {q['store']['p50_ms']:.2f} p99 {q['store']['p99_ms']:.2f} ms "
                         f"({q['rows_per_query']:.0f} rows)",
                         f"bare driver p50 {q['raw']['p50_ms']:.2f} p99 {q['raw']['p99_ms']:.2f} ms",
                         f"{q['raw']['p50_ms'] / q['store']['p50_ms']:.2f}" if q["store"]["p50_ms"] else "-"))
    for r in results.get("state", []):
        store, none = r["store"], r["none"]
        rows.append((f"state store {r['backend']} per {r['what']} (load {r['load']:.1f})",
                     f"{store['us_each']:,.0f} µs/{r['what']} ({store['per_s']:,.0f}/s)",
                     f"no store {none['us_each']:,.0f} µs/{r['what']} ({none['per_s']:,.0f}/s)",
                     "-" if r.get("ratio") is None else f"{r['ratio']:.2f}"))
    return rows


def render(results: dict[str, Any]) -> str:
    header = ("figure", "scanbridge", "ceiling", "ratio")
    rows = [header, *_rows(results)]
    widths = [max(len(row[i]) for row in rows) for i in range(len(header))]
    lines = [" | ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)).rstrip() for row in rows]
    lines.insert(1, "-+-".join("-" * w for w in widths))
    return "\n".join(lines)
