"""Time the console's ticket list (GET /app/api/tickets) on a million tickets.

    .venv/bin/python -m bench.console_bench [--tickets 1000000] [--grids 500] [--keep FILE]

Builds the year of tickets and events of bench/stats_bench.py in a temporary SQLite file (or reuses
`--keep FILE`), then times one page of the list as each kind of user opens it, filtered as the
console's filters do, from storage (`console_tickets`: the count and the page) and through the
whole web request (sign-in, the query, names, JSON); beside them, in the same run, two bare
queries: the count of every ticket and a page of the newest by id. Prints figures only.

Two kinds of request are not index reads: a search in the text reads every description of the
scope (LIKE '%…%'); "latest changed first" reads the event log back from its newest event, further
for each page further on (or, for a few tickets or a past period, looks up each one's latest event).
"""

from __future__ import annotations

from pathlib import Path

from aiohttp.test_utils import TestClient, TestServer, make_mocked_request

from bench import stats_bench
from bench.stats_bench import FIRST_WEEK, TIMEZONE, WEEKS, describe, timed
from bot.config import Settings
from domain.console import TicketQuery, view_scope
from domain.models import Role, StaffMember
from storage.sqlite import SqliteStorage
from tests.console_helpers import console_headers
from web.app import create_app
from web.console.tickets import parse_query

HOUR = 3600
# The bench's year ends here: its open tickets are overdue by then.
NOW = FIRST_WEEK.window(TIMEZONE).start + WEEKS * 7 * 24 * HOUR
TOWN_STAFF, VILLAGE_STAFF, GRID_WORKER, DEPARTMENT_STAFF, ADMIN = 11, 12, 13, 14, 15
STAFF = [StaffMember(TOWN_STAFF, "镇", Role.TOWN, "镇1"), StaffMember(VILLAGE_STAFF, "村", Role.VILLAGE, "村7"),
         StaffMember(GRID_WORKER, "网格员", Role.GRID_WORKER, "G0023"),
         StaffMember(DEPARTMENT_STAFF, "水务局", Role.DEPARTMENT, "水务局"), StaffMember(ADMIN, "管理员", Role.ADMIN, "")]
# (label, who, the query string of the request)
CASES = [
    ("admin, everything, newest first", ADMIN, ""),
    ("admin, in progress", ADMIN, "status=in_progress"),
    ("admin, overdue, by deadline", ADMIN, "overdue=1&sort=deadline"),
    ("admin, department tier, page 50", ADMIN, "tier=department&page=50"),
    ("town, newest first", TOWN_STAFF, ""),
    ("town, new or reopened, one category", TOWN_STAFF, "status=new,reopened&category=water"),
    ("town, one month", TOWN_STAFF, "from=2025-06-01&to=2025-06-30"),
    ("village, waiting for the resident", VILLAGE_STAFF, "waiting=1"),
    ("village, latest changed first", VILLAGE_STAFF, "sort=-updated"),
    ("town, latest changed first", TOWN_STAFF, "sort=-updated"),
    ("town, latest changed first, page 50", TOWN_STAFF, "sort=-updated&page=50"),
    ("town, one month, latest changed first", TOWN_STAFF, "from=2025-06-01&to=2025-06-30&sort=-updated"),
    ("grid worker, newest first", GRID_WORKER, ""),
    ("department, newest first", DEPARTMENT_STAFF, ""),
    ("department, resolved, 100 a page", DEPARTMENT_STAFF, "status=resolved&per_page=100"),
    ("town, search by number", TOWN_STAFF, "q=XG-000123"),
    ("town, search in the text", TOWN_STAFF, "q=漏水"),
]


def settings_for(path: Path) -> Settings:
    return Settings(bot_token="42:BENCH_TOKEN_THAT_IS_LONG_ENOUGH_12345", database_path=path, telegram_api_url=None,
                    admin_ids=frozenset(), timezone=TIMEZONE, default_language="zh", ticket_prefix="XG",
                    bot_username="bench_bot")


async def measure(path: Path, runs: int) -> None:
    storage = await SqliteStorage.open(path)
    await storage.upsert_staff(STAFF)
    settings = settings_for(path)

    async def bare_count() -> None:
        await storage._all("SELECT COUNT(*) FROM tickets")

    async def bare_page() -> None:
        await storage._all("SELECT id FROM tickets ORDER BY id DESC LIMIT 20")

    print(describe("bare: SELECT COUNT(*) FROM tickets", *await timed(bare_count, runs)))
    print(describe("bare: the 20 newest ids", *await timed(bare_page, runs)))
    client = TestClient(TestServer(create_app(settings, storage, lambda: NOW)))
    await client.start_server()
    try:
        for label, who, query_string in CASES:
            headers = console_headers(settings, who, NOW)
            response = await client.get("/app/api/tickets?" + query_string, headers=headers)
            assert response.status == 200, await response.text()
            total = (await response.json())["total"]
            print(f"\n{label} ({query_string or 'no filter'}): {total} tickets")
            query = stored_query(client, query_string)
            scope = view_scope(await storage.roles_of(who))

            async def from_storage(scope=scope, query=query) -> None:
                await storage.console_tickets(scope, query)

            async def through_the_web(query_string=query_string, headers=headers) -> None:
                answer = await client.get("/app/api/tickets?" + query_string, headers=headers)
                await answer.read()

            print(describe("  storage: count and page", *await timed(from_storage, runs)))
            print(describe("  GET /app/api/tickets", *await timed(through_the_web, runs)))
    finally:
        await client.close()
        await storage.close()


def stored_query(client: TestClient, query_string: str) -> TicketQuery:
    """The TicketQuery the web layer makes of `query_string`."""
    request = make_mocked_request("GET", "/app/api/tickets?" + query_string, app=client.server.app)
    return parse_query(request, NOW)


def main() -> None:
    stats_bench.main(__doc__.splitlines()[0], 1_000_000, measure)


if __name__ == "__main__":
    main()
