"""Open311 GeoReport v2 (issue 15), read through a client written from the spec (tests/georeport_client.py):
every endpoint, filter and error, in JSON and XML; only approved public tickets, with their approved
text, never the resident's original words or identity."""

from __future__ import annotations

from datetime import datetime, timezone
from urllib.parse import quote

import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st
from aiohttp.test_utils import TestClient, TestServer

from domain.board import BoardService
from domain.service import NotAllowed
from domain.open311 import key_hash, new_api_key
from domain.models import Attachment, BoardTowns, Decision, MediaKind, EventType, Kind, PublicPost, Role, RoleGrant, Status, Ticket, TicketEvent, Tier
from storage.base import NewTicket, TicketChange
from tests.conftest import GRIDS, VILLAGE_DL, WORKER_DL02, WORKER_NZ01, open_harness, texts
from tests.georeport_client import GeoReportClient, GeoReportError
from web.app import create_app
from web.limits import MAX_BUCKETS, TokenBuckets
from web.open311 import BURST_PER_ADDRESS, BURST_PER_KEY, DESK, answer, service_request

TOWN = "西岗镇"
BOARD = BoardTowns(frozenset({TOWN}))
VILLAGE = [RoleGrant(Role.VILLAGE, "东里村")]
RESIDENT = 4242
ORIGINAL = "张三家门口水管漏水，电话13812345678"
DAY = 86400


@pytest.fixture
async def api(tmp_path, caplog, database):
    """The test town with these tickets, and a GeoReport client of each format on its web server."""
    async with open_harness(tmp_path, caplog, database, board=BOARD) as h:
        board = BoardService(h.db, h.clock, BOARD)
        now = h.clock()

        async def filed(kind=Kind.REPORT, category="water", grid="DL01", days_ago=0, lat=None, lon=None,
                        public: bool | None = True) -> int:
            ticket, _ = await h.db.create_ticket(NewTicket(
                kind, category, grid, RESIDENT, ORIGINAL, lat=lat, lon=lon,
                reply_due_at=now - days_ago * DAY + 3600, resolve_due_at=now - days_ago * DAY + 2 * DAY), now - days_ago * DAY)
            if public is True:
                await board.publish(ticket.id, VILLAGE_DL, VILLAGE, f"水管漏水 {ticket.id}", [])
            elif public is False:
                await board.keep_private(ticket.id, VILLAGE_DL, VILLAGE)
            return ticket.id

        ids = {
            "old": await filed(days_ago=100),
            "roads": await filed(category="roads", grid="DL02", days_ago=10, lat=34.812345, lon=117.176543),
            "open": await filed(days_ago=1),
            "undecided": await filed(public=None),
            "private": await filed(public=False),
            "complaint": await filed(kind=Kind.COMPLAINT, public=None),
        }
        event = TicketEvent(ids["roads"], now, EventType.RESOLVED, VILLAGE_DL, "修好了")
        await h.db.change_ticket(ids["roads"], Status.NEW, TicketChange(Status.RESOLVED, resolved_at=now), event)
        server = TestClient(TestServer(create_app(h.settings, h.db, h.clock)))
        await server.start_server()
        base = str(server.make_url("/open311/v2"))
        h.server = server
        yield h, ids, {fmt: GeoReportClient(server.session, base, fmt) for fmt in ("json", "xml")}
        await server.close()


def same(value) -> str:
    """A field as both formats give it (XML has no numbers and no empty strings)."""
    return "" if value is None else str(value)


async def test_discovery_and_services(api):
    h, ids, clients = api
    codes = [c.code for c in await h.db.list_categories()]
    for fmt, client in clients.items():
        [endpoint] = (await client.discovery())["endpoints"]
        assert endpoint["url"] == client.base and endpoint["specification"] == "http://wiki.open311.org/GeoReport_v2"
        assert set(endpoint["formats"]) == {"application/json", "text/xml"}
        services = await client.services()
        assert [s["service_code"] for s in services] == codes
        water = services[codes.index("water")]
        assert (water["service_name"], water["group"], same(water["metadata"])) == ("供水", "水务局", "True" if fmt == "json" else "true")
        [grid] = (await client.service_definition("water"))["attributes"]
        assert (grid["code"], grid["datatype"], same(grid["required"])) == ("grid", "string", "False" if fmt == "json" else "false")
        with pytest.raises(GeoReportError) as refused:
            await client.service_definition("no_such_service")
        assert refused.value.status == 404


async def test_requests_lists_only_approved_public_tickets_in_the_window(api):
    h, ids, clients = api
    for client in clients.values():
        listed = await client.requests()  # the last 90 days by default
        assert [r["service_request_id"] for r in listed] == [str(ids["open"]), str(ids["roads"])]
        roads = listed[1]
        assert roads["status"] == "closed" and roads["status_notes"] == "已解决，等待反映人确认"
        assert roads["description"] == f"水管漏水 {ids['roads']}"  # the approved text
        assert (roads["service_code"], roads["service_name"]) == ("roads", "道路交通")
        assert roads["agency_responsible"] == "东里二网格" and same(roads["expected_datetime"]) == ""
        assert roads["address"] == "西岗镇东里村东里二网格" and roads["address_id"] == "DL02"
        assert (float(roads["lat"]), float(roads["long"])) == (34.812, 117.177)  # rounded as the board's pin
        opened = listed[0]
        assert opened["status"] == "open" and opened["status_notes"] == "已受理，等待承办"
        assert opened["expected_datetime"] == w3c_days_ago(h, -1)  # filed a day ago, to resolve in two
        assert float(opened["lat"]) == 34.8105  # no location of its own: its grid's


async def test_filters(api):
    h, ids, clients = api
    for client in clients.values():
        async def listed(**filters) -> list[int]:
            return sorted(int(r["service_request_id"]) for r in await client.requests(**filters))

        assert await listed(start_date="2000-01-01T00:00:00Z", end_date="2100-01-01T00:00:00+08:00") == \
            sorted([ids["old"], ids["roads"], ids["open"]])
        assert await listed(status="open", start_date="2000-01-01") == sorted([ids["old"], ids["open"]])
        assert await listed(status="closed") == [ids["roads"]]
        assert await listed(service_code="roads") == [ids["roads"]]
        assert await listed(service_code="power") == []
        # Ids override the dates; tickets that are not public are not found by id either.
        wanted = ",".join(str(ids[k]) for k in ("old", "undecided", "private", "complaint"))
        assert await listed(service_request_id=wanted) == [ids["old"]]
        start = w3c_days_ago(h, 5)
        assert await listed(start_date=start) == [ids["open"]]
        assert await listed(end_date=start) == [ids["roads"]]  # the 90 days before it
        for bad in ({"status": "pending"}, {"start_date": "yesterday"}, {"end_date": "2026-01-01T00:00:00"},
                    {"service_request_id": "1,x"}, {"start_date": "2026-02-01", "end_date": "2026-01-01"}):
            with pytest.raises(GeoReportError) as refused:
                await client.requests(**bad)
            assert refused.value.status == 400 and next(iter(bad)) in refused.value.errors[0]["description"]


def w3c_days_ago(h, days: int) -> str:
    return datetime.fromtimestamp(h.clock() - days * DAY, timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


async def test_one_request_and_errors(api):
    h, ids, clients = api
    for client in clients.values():
        found = await client.request(str(ids["old"]))  # by id, however old
        assert found["service_request_id"] == str(ids["old"]) and found["description"] == f"水管漏水 {ids['old']}"
        for hidden in ("undecided", "private", "complaint"):
            with pytest.raises(GeoReportError) as refused:
                await client.request(str(ids[hidden]))
            assert refused.value.status == 404
        # Not a ticket number we could have: a superscript digit, beyond a database's integer.
        for nonsense in ("999999", "abc", "²", "9" * 30):
            with pytest.raises(GeoReportError) as refused:
                await client.request(nonsense)
            assert refused.value.status == 404
    with pytest.raises(GeoReportError) as refused:
        await GeoReportClient(clients["json"].session, clients["json"].base, "csv").requests()
    assert refused.value.status == 404


async def test_no_resident_identity_and_cors_only_for_reading(api):
    h, ids, clients = api
    session, base = clients["json"].session, clients["json"].base
    for fmt in ("json", "xml"):
        for resource in ("requests", f"requests/{ids['old']}", "services", "discovery"):
            async with session.get(f"{base}/{resource}.{fmt}", params={"start_date": "2000-01-01"}) as response:
                body = await response.text()
                assert response.headers["Access-Control-Allow-Origin"] == "*"
                assert str(RESIDENT) not in body and "13812345678" not in body and "张三" not in body
    async with session.post(f"{base}/requests.json") as response:
        assert response.status == 403 and "Access-Control-Allow-Origin" not in response.headers


async def test_rate_limit_per_address(api):
    h, ids, clients = api
    client = clients["xml"]
    done = 0
    with pytest.raises(GeoReportError) as refused:
        while True:
            await client.services()
            done += 1
    assert refused.value.status == 429 and done == BURST_PER_ADDRESS
    h.clock.advance(10)
    for _ in range(10):
        await clients["json"].services()
    with pytest.raises(GeoReportError):
        await clients["json"].services()


async def api_key(h, name: str) -> str:
    key = new_api_key()
    await h.db.add_api_key(name, key_hash(key), h.clock())
    return key


async def test_post_files_a_ticket_the_grid_worker_gets_and_its_filer_follows(api):
    """A desk files by location (nearest grid), by address_id or by the grid attribute; the card
    is queued for the grid's worker and the bot's outbox sends it; the key's holder reads its
    tickets, public or not, and nobody else does."""
    h, ids, clients = api
    desk, other = await api_key(h, "12345 desk"), await api_key(h, "web form")
    calls = len(h.session.calls)
    filed = {}
    for fmt, client in clients.items():
        posted = await client.post_request(desk, "roads", f"路灯坏了 {fmt}", lat=34.8132, long=117.1769)
        assert f"XG-" in posted["service_notice"]
        filed[fmt] = posted["service_request_id"]
    by_code = await clients["json"].post_request(desk, "water", "漏水", address_id="NZ01")
    by_attribute = await clients["xml"].post_request(desk, "water", "漏水", attributes={"grid": "DL02"})
    tickets = {k: await h.db.get_ticket(int(v)) for k, v in {**filed, "code": by_code["service_request_id"],
                                                             "attribute": by_attribute["service_request_id"]}.items()}
    assert [t.grid_code for t in tickets.values()] == ["DL02", "DL02", "NZ01", "DL02"]
    assert tickets["json"].kind is Kind.REPORT and (tickets["json"].lat, tickets["json"].lon) == (34.8132, 117.1769)
    await h.dp["outbox"].deliver_due(h.bot)  # what a running bot does with what the web server stored
    sent = h.session.calls[calls:]
    assert any("路灯坏了 json" in t for t in texts(sent, WORKER_DL02)) and any("漏水" in t for t in texts(sent, WORKER_NZ01))
    assert all(call.chat_id > 0 for call in sent)  # nothing for the key, which is no chat
    card = next(t for t in texts(sent, WORKER_DL02) if "路灯坏了 json" in t)
    assert "Open311" in card and "12345 desk" in card  # staff know nobody can be asked
    worker = [RoleGrant(Role.GRID_WORKER, "DL02")]
    with pytest.raises(NotAllowed):
        await h.dp["tickets"].reply(int(filed["json"]), WORKER_DL02, worker, "哪根路灯？", ask=True)
    await h.dp["tickets"].reply(int(filed["json"]), WORKER_DL02, worker, "明天修")  # recorded, sent to nobody
    for fmt, client in clients.items():
        mine = await client.request(filed[fmt], api_key=desk)
        assert mine["description"] == f"路灯坏了 {fmt}" and mine["status"] == "open" and mine["address_id"] == "DL02"
        for params in ({}, {"api_key": other}):
            with pytest.raises(GeoReportError) as refused:
                await client.request(filed[fmt], **params)
            assert refused.value.status == 404
        listed = [r["service_request_id"] for r in await client.requests(api_key=desk)]
        assert listed[:4] == [by_attribute["service_request_id"], by_code["service_request_id"], filed["xml"], filed["json"]]
        assert str(ids["open"]) in listed  # the public ones too
        assert [r["service_request_id"] for r in await client.requests(api_key=other)] == [str(ids["open"]), str(ids["roads"])]
        assert [r["service_request_id"] for r in await client.requests(api_key=desk, service_code="water",
                                                                           service_request_id=filed["json"])] == []


async def test_post_errors(api):
    h, ids, clients = api
    desk, revoked = await api_key(h, "desk"), await api_key(h, "old")
    await h.db.revoke_api_key("old", h.clock())
    for client in clients.values():
        async def refused(api_key, service_code="water", description="漏水", lat=34.81, long=117.17, **more) -> tuple[int, str]:
            with pytest.raises(GeoReportError) as error:
                await client.post_request(api_key, service_code, description, lat=lat, long=long, **more)
            status, description = error.value.status, error.value.errors[0]["description"]
            # A 400 names the argument it refuses.
            return status, next((n for n in ("service_code", "description", "lat/long", "address_id") if n in description), "")

        assert (await refused(None))[0] == 403
        assert (await refused("not a key"))[0] == 403
        assert (await refused(revoked))[0] == 403
        assert await refused(desk, service_code=None) == (400, "service_code")
        assert (await refused(desk, service_code="no_such"))[0] == 404
        assert await refused(desk, description=None) == (400, "description")
        assert await refused(desk, description="长" * 3001) == (400, "description")
        # Too long as the README counts it (a 😀 is two UTF-16 units), and said so with the limit.
        with pytest.raises(GeoReportError) as too_long:
            await client.post_request(desk, "water", "😀" * 1501, address_id="DL01")
        assert too_long.value.errors[0]["description"] == "参数 description 无效：最多 3000 个字符（按 UTF-16 码元计）"
        assert await refused(desk, lat=None, long=None) == (400, "lat/long")
        assert await refused(desk, long=None) == (400, "lat/long")
        assert await refused(desk, lat="north") == (400, "lat/long")
        assert await refused(desk, lat=91) == (400, "lat/long")
        assert await refused(desk, lat=35.5) == (400, "lat/long")  # farther than NEAREST_GRID_KM from every grid
        assert await refused(desk, lat=None, long=None, address_id="XX99") == (400, "address_id")
        with pytest.raises(GeoReportError) as refused_get:
            await client.requests(api_key=revoked)
        assert refused_get.value.status == 403
    # A JSON body (not the spec's form) was read as no fields: "needs an api_key" although it had one;
    # it files nothing (the limit of one filing below would refuse the next).
    session, base = clients["json"].session, clients["json"].base
    fields = {"api_key": desk, "service_code": "water", "description": "漏水", "address_id": "DL01"}
    for url in (f"{base}/requests.json", f"{base}/requests.json?api_key={desk}"):
        async with session.post(url, json=fields) as response:
            assert response.status == 415
            assert (await response.json())[0]["description"] == \
                "请以表单编码（application/x-www-form-urlencoded）提交各项参数，这是 Open311 规范的要求"
    # A form aiohttp cannot read was a 500: a multipart without its boundary, a charset nobody knows.
    form = f"api_key={desk}&service_code=water&description=x&address_id=DL01"
    for content_type in ("multipart/form-data", "multipart/form-data; boundary=zz",
                         "application/x-www-form-urlencoded; charset=klingon"):
        async with session.post(f"{base}/requests.json", data=form, headers={"Content-Type": content_type}) as response:
            assert response.status == 400, content_type
            assert (await response.json())[0]["description"].startswith("请以表单编码")
    h.server.app[DESK].tickets.tickets_per_hour = 1  # the filing limit of a key, counted in the database
    await clients["json"].post_request(desk, "water", "漏水", address_id="DL01")
    with pytest.raises(GeoReportError) as limited:
        await clients["json"].post_request(desk, "water", "漏水", address_id="DL01")
    assert limited.value.status == 429


async def test_xml_answers_stay_well_formed_whatever_was_filed(api):
    """Noncharacters (U+FFFE, U+FFFF) are text to Unicode and to our cleaning, but XML 1.0 forbids them:
    an answer carrying one did not parse. They read as U+FFFD there; JSON keeps them."""
    h, ids, clients = api
    desk = await api_key(h, "desk")
    filed = (await clients["json"].post_request(desk, "water", "漏\ufffe水\uffff 𠀀", address_id="DL01"))["service_request_id"]
    assert (await clients["xml"].request(filed, api_key=desk))["description"] == "漏\ufffd水\ufffd 𠀀"
    assert (await clients["json"].request(filed, api_key=desk))["description"] == "漏\ufffe水\uffff 𠀀"


async def test_a_nul_character_is_a_malformed_argument(api):
    """PostgreSQL text cannot hold U+0000: a code with one was a 500 there when looked up."""
    h, ids, clients = api
    desk = await api_key(h, "desk")
    session, base = clients["json"].session, clients["json"].base
    for fields, named in (({"address_id": "DL\x0001"}, "address_id"), ({"attribute[grid]": "\x00"}, "attribute[grid]"),
                          ({"service_code": "water\x00"}, "service_code")):
        form = {"api_key": desk, "service_code": "water", "description": "漏水", "address_id": "DL01", **fields}
        async with session.post(f"{base}/requests.json", data=form) as response:
            assert response.status == 400 and named in (await response.json())[0]["description"]
    async with session.get(f"{base}/services/water%00.json") as response:
        assert response.status == 400


async def test_rate_limit_per_key(api):
    h, ids, clients = api
    key = await api_key(h, "desk")
    for _ in range(BURST_PER_KEY):
        await clients["json"].services(api_key=key)
    with pytest.raises(GeoReportError) as refused:
        await clients["json"].services(api_key=key)
    assert refused.value.status == 429
    await clients["json"].services()  # the address has requests left


def test_token_buckets_forget_quiet_clients():
    now = [0.0]
    buckets = TokenBuckets(1.0, 2, lambda: now[0])
    assert buckets.take("a") and buckets.take("a") and not buckets.take("a") and buckets.take("b")
    now[0] += 1
    assert buckets.take("a") and not buckets.take("a")
    buckets.buckets = {n: (2.0, 0.0) for n in range(MAX_BUCKETS)}
    assert buckets.take("c") and set(buckets.buckets) == {"c"}


PRIVATE = "私密原话"  # in every resident's original text; staff's approved text never has it


@settings(max_examples=200, deadline=None)
@given(
    resident_id=st.integers(10**11, 10**12 - 1),  # Telegram ids; long enough to differ from any time or place
    phone=st.from_regex(r"1[3-9]\d{9}", fullmatch=True),
    name=st.sampled_from(["张三", "李四娘", "Wang Wei"]),
    status=st.sampled_from(list(Status)),
    tier=st.sampled_from(list(Tier)),
    located=st.booleans(),
    public_text=st.text(st.characters(blacklist_categories=("Cs",)), min_size=1, max_size=40),
    fmt=st.sampled_from(["json", "xml"]),
)
def test_no_personal_data_in_any_service_request(resident_id, phone, name, status, tier, located, public_text, fmt):
    """Whatever the ticket, its service request holds the approved text and public places only:
    never the resident's id, name, phone, original words, rating comment or staff's notes."""
    assume(not any(secret in public_text for secret in (phone, name, PRIVATE, str(resident_id))))
    ticket = Ticket(
        7, Kind.REPORT, "water", "DL01", resident_id, True, f"{name} {phone} {PRIVATE}",
        34.81 if located else None, 117.17 if located else None, status, tier, resident_id + 1, 1_700_000_000,
        rating=1, rating_comment=f"{name}{phone}{PRIVATE}", department="水务局", resolve_due_at=1_700_100_000,
    )
    post = PublicPost(7, Decision.PUBLIC, public_text, frozenset(), 1_700_000_100, resident_id + 2)
    found = service_request(ticket, post, GRIDS[0], None, "zh")
    body = answer(fmt, "service_requests", [found]).body.decode()
    assert found["description"] == public_text
    for secret in (str(resident_id), str(resident_id + 1), str(resident_id + 2), phone, name, PRIVATE):
        assert secret not in body


async def test_media_url_is_the_boards_first_approved_photo(api):
    h, ids, clients = api
    photos = tuple(Attachment(f"p{i}", f"u{i}", MediaKind.PHOTO) for i in range(2))
    ticket, _ = await h.db.create_ticket(NewTicket(Kind.REPORT, "water", "DL01", RESIDENT, ORIGINAL, attachments=photos),
                                         h.clock())
    await BoardService(h.db, h.clock, BOARD).publish(ticket.id, VILLAGE_DL, VILLAGE, "水管漏水", [0])
    for client in clients.values():
        found = await client.request(str(ticket.id))
        assert found["media_url"] == f"{client.base.removesuffix('/open311/v2')}/board/{quote(TOWN)}/photo/{ticket.id}/0"
        assert same((await client.request(str(ids["open"])))["media_url"]) == ""  # no photo
