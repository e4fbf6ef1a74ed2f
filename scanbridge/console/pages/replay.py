"""Replay: a time range and filters (vendor, account, type, subject); a dry run counts what they select,
a run re-publishes it to a topic (marked `replayed=true`) or rewinds a consumer group (`scanbridge
replay`). Each runs in the background; its page shows the progress (reloading itself each second)."""

from __future__ import annotations

import asyncio
import secrets
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime

from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import Route

from bus.base import Bus
from bus.errors import BusError
from bus.replay import Selection, replay_to_topic, rewind_group
from scanbridge.console.context import Console
from scanbridge.reading import existing

KEEP_JOBS = 20


@dataclass
class Job:
    id: str
    who: str
    mode: str  # dry-run, topic, group
    selection: Selection
    target: str | None
    done: int = 0
    total: int = 0
    counts: Counter[str] = field(default_factory=Counter)
    finished: bool = False
    error: str | None = None
    started_at: datetime = field(default_factory=lambda: datetime.now(UTC))


def _time(value: str, name: str) -> datetime:
    try:
        when = datetime.fromisoformat(value)
    except ValueError:
        raise HTTPException(400, f"{name}: not an ISO 8601 time.") from None
    return when if when.tzinfo else when.replace(tzinfo=UTC)


async def _run(job: Job, bus: Bus, sources: list[str]) -> None:
    def progress(done: int, total: int) -> None:
        job.done, job.total = done, total

    try:
        live = await existing(bus, sources)
        if job.mode == "group":
            assert job.target is not None
            job.counts = await rewind_group(bus, live, job.target, job.selection.start, False, progress)
        else:
            if job.mode == "topic" and job.target:
                await bus.ensure_topics([job.target])
            job.counts = await replay_to_topic(bus, live, job.target, job.selection, job.mode == "dry-run",
                                               progress)
    except BusError as exc:
        job.error = str(exc)
    finally:
        job.finished = True


def routes(console: Console) -> list[Route]:
    jobs: dict[str, Job] = console.jobs
    tasks: set[asyncio.Task[None]] = set()
    topics = console.settings.bus.topics

    async def form(request: Request) -> Response:
        console.operator(request)
        recent = sorted(jobs.values(), key=lambda j: j.started_at, reverse=True)
        return console.page(request, "replay.html", {"page": "replay", "jobs": recent,
                                                     "sources": [topics.events, topics.artifacts]})

    async def start(request: Request) -> Response:
        mode_wanted = (await request.form()).get("mode")
        operator, data = await console.form(request, admin=mode_wanted != "dry-run")
        mode = str(data.get("mode"))
        if mode not in ("dry-run", "topic", "group"):
            raise HTTPException(400, "Choose a dry run, a topic or a group.")
        if console.bus is None:
            raise HTTPException(503, "This console has no bus.")
        names = ("from", "to", "vendor", "account", "type", "subject", "target")
        text = {k: str(data.get(k, "")).strip() for k in names}
        if not text["from"]:
            raise HTTPException(400, "from: give the start of the range.")
        selection = Selection(_time(text["from"], "from"), _time(text["to"], "to") if text["to"] else None,
                              text["vendor"] or None, text["account"] or None, text["type"] or None,
                              text["subject"] or None)
        target = text["target"] or None
        if mode != "dry-run" and not target:
            raise HTTPException(400, "Name the topic or the group to replay to.")
        if mode == "group" and selection.filters():
            raise HTTPException(400, "A group rewind takes a start time only (filters need a topic).")
        job = Job(secrets.token_hex(6), operator.name, mode, selection, target)
        jobs[job.id] = job
        for old in sorted(jobs.values(), key=lambda j: j.started_at)[:-KEEP_JOBS]:
            jobs.pop(old.id, None)
        await console.audit(operator.name, f"replay.{mode}", target or "-",
                            {k: v for k, v in text.items() if v and k != "target"})
        task = asyncio.create_task(_run(job, console.bus, [topics.events, topics.artifacts]))
        tasks.add(task)
        task.add_done_callback(tasks.discard)
        return RedirectResponse(f"/replay/{job.id}", 303)

    async def progress(request: Request) -> Response:
        console.operator(request)
        job = jobs.get(request.path_params["job"])
        if job is None:
            raise HTTPException(404, "No such replay (only the last 20 are kept).")
        return console.page(request, "replay_job.html", {"page": "replay", "job": job,
                                                         "total_count": sum(job.counts.values())})

    return [Route("/replay", form), Route("/replay", start, methods=["POST"]),
            Route("/replay/{job}", progress)]
