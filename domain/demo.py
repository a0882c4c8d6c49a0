"""A demo town for newcomers: two villages, six grids, their staff, and a few hundred tickets over
the past eight weeks, made through the ticket service so they look like real use."""

from __future__ import annotations

import random
from dataclasses import dataclass

from domain.demo_codes import fill_demo_codes
from domain.models import Grid, Kind, Role, StaffMember
from domain.service import Draft, TicketService
from storage.base import Storage

TOWN = "西岗镇"
DEMO_GRIDS = (
    Grid("XG-DL-01", "东里一网格", "东里村", TOWN, 34.8105, 117.1702),
    Grid("XG-DL-02", "东里二网格", "东里村", TOWN, 34.8131, 117.1768),
    Grid("XG-DL-03", "东里三网格", "东里村", TOWN, 34.8159, 117.1731),
    Grid("XG-NZ-01", "南庄一网格", "南庄村", TOWN, 34.7987, 117.1655),
    Grid("XG-NZ-02", "南庄二网格", "南庄村", TOWN, 34.8012, 117.1599),
    Grid("XG-NZ-03", "南庄三网格", "南庄村", TOWN, 34.7954, 117.1620),
)
# Made-up Telegram ids far from real ones; replace them with `gridbot import staff`.
DEMO_STAFF = tuple(
    [StaffMember(900_001 + i, f"网格员{i + 1}", Role.GRID_WORKER, g.code) for i, g in enumerate(DEMO_GRIDS)]
    + [
        StaffMember(900_101, "东里村书记", Role.VILLAGE, "东里村"),
        StaffMember(900_102, "南庄村书记", Role.VILLAGE, "南庄村"),
        StaffMember(900_201, "镇指挥中心", Role.TOWN, TOWN),
        StaffMember(900_301, "水务局专员", Role.DEPARTMENT, "水务局"),
        StaffMember(900_401, "镇长", Role.OFFICIAL, TOWN),
    ]
)
DESCRIPTIONS = {
    "water": "自来水停了半天，家里没有水用。",
    "power": "路口的路灯坏了，晚上很黑。",
    "roads": "村口道路有个大坑，电动车容易摔倒。",
    "sanitation": "垃圾桶满了好几天没人清理。",
    "medical": "卫生室下午没有医生值班。",
    "schools": "学校门口放学时交通拥堵。",
    "public_order": "晚上有人在广场大声喧哗。",
    "housing": "楼道灯不亮，物业一直没修。",
}
WEEKS = 8
RESIDENTS = range(800_001, 800_121)


@dataclass
class DemoClock:
    now: int

    def __call__(self) -> int:
        return self.now


async def fill_demo(storage: Storage, now: int, tickets_count: int = 360, seed: int = 7) -> int:
    """Fill an empty database; returns how many tickets were made."""
    await storage.upsert_grids(DEMO_GRIDS)
    await storage.upsert_staff(DEMO_STAFF)
    for member in DEMO_STAFF:  # as if they had opened the bot, so that tickets reach them
        await storage.touch_user(member.telegram_id, member.name, None, None)
    rng = random.Random(seed)
    clock = DemoClock(now)
    service = TicketService(storage, clock)
    workers = {s.scope: s.telegram_id for s in DEMO_STAFF if s.role is Role.GRID_WORKER}
    start = now - WEEKS * 7 * 24 * 3600
    moments = sorted(rng.randrange(start, now - 3600) for _ in range(tickets_count))
    for created_at in moments:
        clock.now = created_at
        grid = rng.choice(DEMO_GRIDS)
        category = rng.choice(list(DESCRIPTIONS))
        resident = rng.choice(RESIDENTS)
        ticket, _ = await service.file(
            resident,
            Draft(rng.choice(list(Kind)), category, grid.code, DESCRIPTIONS[category]),
        )
        worker = workers[grid.code]
        grants = await storage.roles_of(worker)
        if rng.random() < 0.08 and created_at > now - 4 * 24 * 3600:
            continue  # recent and still new
        clock.now += rng.randrange(10 * 60, 4 * 3600)
        await service.take(ticket.id, worker, grants)
        clock.now += rng.randrange(5 * 60, 3 * 3600)
        await service.reply(ticket.id, worker, grants, "已收到，正在处理。")
        if rng.random() < 0.1 and created_at > now - 7 * 24 * 3600:
            continue  # still in progress
        # Most matters stay in the grid; some need the village, a few the town.
        holder, holder_grants = worker, grants
        for higher, share, reason in ((Role.VILLAGE, 0.12, "需要村里协调解决。"), (Role.TOWN, 0.3, "需要镇里协调。")):
            if rng.random() >= share:
                break
            clock.now += rng.randrange(600, 6 * 3600)
            await service.escalate(ticket.id, holder, holder_grants, reason)
            scope = grid.village if higher is Role.VILLAGE else grid.town
            holder = (await storage.staff_with_role(higher, scope))[0].telegram_id
            holder_grants = await storage.roles_of(holder)
            clock.now += rng.randrange(600, 4 * 3600)
            await service.take(ticket.id, holder, holder_grants)
        clock.now += rng.randrange(3600, 40 * 3600)
        await service.resolve(ticket.id, holder, holder_grants, "已处理完毕，请确认。")
        clock.now += rng.randrange(600, 24 * 3600)
        if clock.now >= now:
            continue  # waits for the resident
        if rng.random() < 0.07:
            await service.reopen(ticket.id, resident, "问题还没有解决。")
            continue
        if rng.random() < 0.85:
            await service.confirm(ticket.id, resident)
            await service.rate(ticket.id, resident, rng.choices([5, 4, 3, 2, 1], [60, 25, 8, 4, 3])[0])
    # The demo people are made up: mark them unreachable so the bot does not message them.
    for person in {*RESIDENTS, *(s.telegram_id for s in DEMO_STAFF)}:
        await storage.mark_unreachable(person)
    await fill_demo_codes(storage, now, RESIDENTS, WEEKS, rng)  # shops with ratings, sites with inspections
    return len(moments)
