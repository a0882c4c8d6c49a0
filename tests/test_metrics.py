"""`/metrics` (issue 14): the figures in Prometheus's text format, on both backends."""

from __future__ import annotations

import re

from aiohttp.test_utils import TestClient, TestServer

from handlers.callbacks import FormCb
from tests.test_reliability import RESIDENT, start_form
from web.app import create_app
from web.metrics import CONTENT_TYPE, count_for

SAMPLE = re.compile(r'^([a-z_]+)(\{le="[^"]+"\})? (\S+)$')


async def scrape(client) -> dict[str, float]:
    response = await client.get("/metrics")
    assert response.status == 200 and response.headers["Content-Type"] == CONTENT_TYPE
    samples = {}
    for line in (await response.text()).splitlines():
        if line.startswith("#"):
            assert re.match(r"^# (HELP|TYPE) [a-z_]+ \S", line), line
            continue
        name, label, value = SAMPLE.match(line).groups()
        samples[name + (label or "")] = float(value)
    return samples


async def test_metrics_count_updates_and_show_the_work_waiting(harness):
    h = harness
    app = create_app(h.settings, h.db, h.clock)
    count_for(app, h.dp)
    client = TestClient(TestServer(app))
    await client.start_server()
    try:
        before = await scrape(client)
        assert before["gridbot_updates_handled_total"] == 0 and before["gridbot_outbox_depth"] == 0
        resident = h.user(RESIDENT, "en")
        await start_form(h, resident)  # four updates
        await h.send(resident, "✅ Done")
        await h.tap(resident, FormCb(action="confirm"), deliver=False)  # the worker's card waits
        h.clock.advance(30 * 24 * 3600)
        figures = await scrape(client)
        assert figures["gridbot_updates_handled_total"] == 6 == figures["gridbot_update_seconds_count"]
        assert figures['gridbot_update_seconds_bucket{le="+Inf"}'] == 6 >= figures['gridbot_update_seconds_bucket{le="0.5"}']
        assert figures["gridbot_update_errors_total"] == 0 and figures["gridbot_notices_sent_total"] == 0
        assert figures["gridbot_outbox_depth"] >= 1 and figures["gridbot_outbox_oldest_age_seconds"] == 30 * 24 * 3600
        assert figures["gridbot_deadlines_due"] == 1 and figures["gridbot_stored_updates"] == 0
        assert figures["gridbot_leader"] == 0  # the harness starts no watchers
        await h.dp["outbox"].deliver_due(h.bot)
        after = await scrape(client)
        assert after["gridbot_outbox_depth"] == 0 and after["gridbot_notices_sent_total"] >= 1
    finally:
        await client.close()
