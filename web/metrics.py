"""`/metrics`: the bot's figures in Prometheus's text format (version 0.0.4), for a scraper.

Each process answers for itself (a scraper asks every replica): updates handled, their errors and
how long they took, notices sent and failed, whether it leads. What waits in the database, the same
whichever process is asked: the outbox's depth and its oldest notice's age, open tickets past
their deadline, webhook updates stored and not yet handled. No personal data.

Written here rather than with prometheus_client: a dozen lines of text, and the library's
process-wide registry would need undoing in every test that builds a dispatcher.
"""

from __future__ import annotations

from aiogram import Dispatcher
from aiohttp import web

from bot.counters import LATENCY_BUCKETS
from web.keys import CLOCK, STORAGE

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
# The dispatcher of this process, when it runs the bot (`gridbot web` alone has none).
DISPATCHER = web.AppKey("dispatcher", Dispatcher)


def _metric(name: str, kind: str, help_text: str, *samples: tuple[str, float]) -> str:
    lines = [f"# HELP {name} {help_text}", f"# TYPE {name} {kind}"]
    lines += [f"{name}{suffix} {value:.6g}" if isinstance(value, float) else f"{name}{suffix} {value}"
              for suffix, value in samples]
    return "\n".join(lines) + "\n"


def _process_metrics(dispatcher: Dispatcher) -> list[str]:
    counts, outbox = dispatcher["update_counts"], dispatcher["outbox"]
    cumulative, buckets = 0, []
    for bound, count in zip(LATENCY_BUCKETS, counts.in_bucket):
        cumulative += count
        buckets.append((f'_bucket{{le="{bound}"}}', cumulative))
    return [
        _metric("gridbot_updates_handled_total", "counter", "Telegram updates this process handled.",
                ("", counts.handled)),
        _metric("gridbot_update_errors_total", "counter", "Updates whose handling ended with an error.",
                ("", counts.failed)),
        _metric("gridbot_update_seconds", "histogram", "How long handling an update took.",
                *buckets, ('_bucket{le="+Inf"}', counts.handled), ("_sum", float(counts.seconds)),
                ("_count", counts.handled)),
        _metric("gridbot_notices_sent_total", "counter", "Outbox notices this process sent.", ("", outbox.sent)),
        _metric("gridbot_notice_failures_total", "counter",
                "Tries to send a notice that failed and are retried later.", ("", outbox.failures)),
        _metric("gridbot_leader", "gauge",
                "1 if this process runs the deadline watcher and the digest (of all replicas, one does).",
                ("", int(dispatcher["leadership"].leading))),
    ]


async def metrics(request: web.Request) -> web.Response:
    now = request.app[CLOCK]()
    work = await request.app[STORAGE].work_in_hand(now)
    parts = [
        _metric("gridbot_outbox_depth", "gauge", "Notices waiting to be sent.", ("", work.outbox_pending)),
        _metric("gridbot_outbox_oldest_age_seconds", "gauge", "How long the oldest waiting notice has waited.",
                ("", max(0, now - work.outbox_oldest_at) if work.outbox_oldest_at is not None else 0)),
        _metric("gridbot_deadlines_due", "gauge", "Open tickets whose deadline has passed.",
                ("", work.deadlines_due)),
        _metric("gridbot_stored_updates", "gauge", "Webhook updates stored and not yet handled.",
                ("", work.stored_updates)),
    ]
    if (dispatcher := request.app.get(DISPATCHER)) is not None:
        parts += _process_metrics(dispatcher)
    return web.Response(body="".join(parts).encode(), headers={"Content-Type": CONTENT_TYPE})


def add_metrics(app: web.Application) -> None:
    app.router.add_get("/metrics", metrics)


def count_for(app: web.Application, dispatcher: Dispatcher) -> None:
    """`/metrics` also tells what this process's bot has done."""
    app[DISPATCHER] = dispatcher
