"""The invariant of issue 9 as a property: over random sequences of filing, taking, escalating,
routing to departments and returning, handing over, resolving and reopening, deadlines passing, importing,
replacing and removing staff, and staff blocking and opening the bot, no open ticket is ever
without a reachable holder at its tier, or else held by the town command centre above it.

Runs on the ticket service and SQLite in memory (no chat layer), so a few dozen sequences take
seconds."""

from __future__ import annotations

import asyncio

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from domain.models import Grid, Kind, Role, RoleGrant, StaffMember, Tier
from domain.service import Draft, TicketError, TicketService
from domain.tickets import OPEN_STATUSES, tier_holder
from storage.sqlite import SqliteStorage
from tests.conftest import START, FakeClock

GRIDS = [
    Grid("DL01", "东里一网格", "东里村", "西岗镇"),
    Grid("DL02", "东里二网格", "东里村", "西岗镇"),
    Grid("NZ01", "南庄一网格", "南庄村", "西岗镇"),
]
STAFF = [
    StaffMember(501, "王网格", Role.GRID_WORKER, "DL01"),
    StaffMember(502, "李网格", Role.GRID_WORKER, "DL02"),
    StaffMember(503, "赵网格", Role.GRID_WORKER, "NZ01"),
    StaffMember(504, "钱网格", Role.GRID_WORKER, "DL01"),
    StaffMember(601, "东里村书记", Role.VILLAGE, "东里村"),
    StaffMember(602, "南庄村书记", Role.VILLAGE, "南庄村"),
    StaffMember(801, "镇指挥中心", Role.TOWN, "西岗镇"),
    StaffMember(901, "水务局专员", Role.DEPARTMENT, "水务局"),
    StaffMember(902, "城管局专员", Role.DEPARTMENT, "城管局"),
]
ADMIN = 1
PEOPLE = sorted({m.telegram_id for m in STAFF} | {ADMIN, 511, 611})
# Roles a person can be given by an import: a new worker, a second village head.
IMPORTABLE = [(Role.GRID_WORKER, "DL01"), (Role.GRID_WORKER, "DL02"), (Role.GRID_WORKER, "NZ01"),
              (Role.VILLAGE, "东里村"), (Role.VILLAGE, "南庄村"), (Role.TOWN, "西岗镇"),
              (Role.DEPARTMENT, "水务局")]
CATEGORIES = ["water", "sanitation", "roads"]
ACTIONS = ["file", "take", "escalate", "hand_over", "return", "resolve", "reopen", "deadline", "open",
           "block", "remove", "import", "replace"]

steps = st.lists(
    st.tuples(st.sampled_from(ACTIONS), st.integers(0, 50), st.integers(0, 50)), min_size=1, max_size=30
)


async def check_invariant(db: SqliteStorage) -> None:
    for ticket_id in range(1, 10_000):
        ticket = await db.get_ticket(ticket_id)
        if ticket is None:
            return
        if ticket.status not in OPEN_STATUSES or ticket.tier is Tier.TOWN:
            continue
        role, scope = tier_holder(ticket, await db.get_grid(ticket.grid_code))
        staff = await db.staff_with_role(role, scope)
        assert await db.reachable([m.telegram_id for m in staff]), (ticket, await db.events(ticket.id))


async def grants_of(db: SqliteStorage, person: int) -> list[RoleGrant]:
    grants = await db.roles_of(person)
    return grants + [RoleGrant(Role.ADMIN)] if person == ADMIN else grants


async def run(opened: list[bool], sequence: list[tuple[str, int, int]]) -> None:
    db = await SqliteStorage.open(":memory:")
    try:
        clock = FakeClock(START)
        service = TicketService(db, clock, tickets_per_hour=0, admin_ids=frozenset({ADMIN}))
        await db.upsert_grids(GRIDS)
        await db.upsert_staff(STAFF)
        for person, has_opened in zip(PEOPLE, opened):
            if has_opened:
                await db.touch_user(person, str(person), None, None)
        tickets: list[int] = []
        residents = iter(range(2000, 3000))
        for action, a, b in sequence:
            person = PEOPLE[a % len(PEOPLE)]
            ticket_id = tickets[a % len(tickets)] if tickets else None
            try:
                if action == "file":
                    draft = Draft(Kind.COMPLAINT, CATEGORIES[b % len(CATEGORIES)], GRIDS[a % len(GRIDS)].code, "问题")
                    ticket, _ = await service.file(next(residents), draft)
                    tickets.append(ticket.id)
                elif action in ("take", "escalate", "hand_over", "return", "resolve") and ticket_id is not None:
                    ticket = await db.get_ticket(ticket_id)
                    holders = await service.holders(ticket)
                    if not holders:
                        continue
                    actor = holders[b % len(holders)]
                    grants = await grants_of(db, actor)
                    if action == "take":
                        await service.take(ticket_id, actor, grants)
                    elif action == "escalate":
                        departments = await db.list_departments()
                        await service.escalate(ticket_id, actor, grants, "原因", departments[b % len(departments)])
                    elif action == "hand_over":
                        await service.hand_over(ticket_id, actor, grants, GRIDS[b % len(GRIDS)].code, "原因")
                    elif action == "return":  # a department sends it back to the town (退回)
                        await service.return_to_town(ticket_id, actor, grants, "不属于本部门")
                    else:
                        await service.resolve(ticket_id, actor, grants, "已处理")
                elif action == "reopen" and ticket_id is not None:
                    ticket = await db.get_ticket(ticket_id)
                    await service.reopen(ticket_id, ticket.resident_id, "没解决")
                elif action == "deadline":
                    clock.advance((b % 48 + 1) * 3600)
                    await service.run_deadlines()
                elif action == "open":
                    _user, grants, reached = await db.touch_user(person, str(person), None, None)
                    if reached:
                        await service.staff_reachable(person, await grants_of(db, person))
                elif action == "block":
                    await db.mark_unreachable(person)
                    await service.staff_unreachable(person)
                elif action == "remove":
                    await service.staff_removed(await db.remove_staff(person))
                elif action == "import":
                    role, scope = IMPORTABLE[b % len(IMPORTABLE)]
                    added = StaffMember(person, str(person), role, scope)
                    await db.upsert_staff([added])
                    await service.staff_added([added])
                elif action == "replace":  # the file leaves out one person and brings one role in
                    role, scope = IMPORTABLE[b % len(IMPORTABLE)]
                    kept = [m for m in await db.list_staff() if m.telegram_id != person]
                    newcomer = StaffMember(PEOPLE[b % len(PEOPLE)], "新", role, scope)
                    await service.staff_removed(await db.replace_staff([*kept, newcomer]))
                    await service.staff_added([newcomer])
            except TicketError:
                pass  # a move the rules refuse (a closed ticket, a tier with no higher one …)
            await check_invariant(db)
    finally:
        await db.close()


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(opened=st.lists(st.booleans(), min_size=len(PEOPLE), max_size=len(PEOPLE)), sequence=steps)
def test_no_open_ticket_is_ever_without_a_reachable_holder(opened, sequence):
    asyncio.run(run(opened, sequence))
