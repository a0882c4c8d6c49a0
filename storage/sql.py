"""What the SQL backends (storage/sqlite.py, storage/postgres.py) share: every `Storage` method,
written once over portable SQL.

A write is a generator of statements (`one`, `rows`, `run`, `run_many`) that is sent each
statement's result; the backend drives it as one transaction (SQLite in one trip to its database
thread, PostgreSQL statement by statement on one pooled connection). Statements take `?`, `?N` or
`:name` placeholders, as SQLite does; the PostgreSQL backend numbers them `$N`. What the dialects
spell differently is an attribute of the backend class (such as `_LIKE`), not a second copy.
"""

from __future__ import annotations

import json
import time
from abc import abstractmethod
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import replace
from datetime import date
from importlib import resources
from typing import Any, TypeVar

from domain.categories import DEFAULT_CATEGORIES
from domain.console import SORTS, TicketQuery, ViewScope
from domain.models import (
    Attachment,
    Category,
    Decision,
    DeadlineUnit,
    EventType,
    Grid,
    Kind,
    MediaKind,
    Notice,
    PublicPost,
    Resident,
    ReturnVisit,
    Role,
    RoleGrant,
    StaffMember,
    Status,
    Ticket,
    TicketEvent,
    Tier,
    VisitOutcome,
    VisitReason,
)
from domain.deadlines import REMINDER_SHARE
from domain.digest import DEFAULT_DIGEST_CHOICE, DigestChoice
from domain.tickets import OPEN_STATUSES, PUBLIC_KINDS
from domain.workdays import CalendarDay
from storage.api_keys_sql import ApiKeysMixin
from storage.channel_sql import ChannelPostsMixin
from storage.base import NewTicket, OutboxItem, QueuePage, Storage, TicketChange, WorkInHand
from storage.codes_sql import CodesMixin
from storage.fsm_sql import FormsMixin
from storage.stats_sql import StatsMixin
from storage.statements import Statement, Work, one, run, run_many
from storage.statements import rows as select

T = TypeVar("T")


def migrations(folder: str = "migrations") -> list[tuple[int, str]]:
    """Migration scripts of `folder` (in the storage package) as (version, SQL), in order; the
    version is the file's number."""
    found = []
    for entry in (resources.files("storage") / folder).iterdir():
        if entry.name.endswith(".sql"):
            found.append((int(entry.name.split("_", 1)[0]), entry.read_text(encoding="utf-8")))
    return sorted(found)


def pending_migrations(folder: str, applied: set[int]) -> list[tuple[int, str]]:
    """The scripts of `folder` not yet applied, in order. Every number is checked, not only those
    above the highest applied: work landed in parallel can add a lower number after a higher one."""
    return [(version, script) for version, script in migrations(folder) if version not in applied]


TICKET_COLUMNS = (
    "t.id, t.kind, t.category_code, t.grid_code, t.resident_id, t.share_contact, t.description, "
    "t.lat, t.lon, t.status, t.tier, t.assignee_id, t.created_at, t.first_reply_at, "
    "t.resolved_at, t.resolved_tier, t.confirmed_at, t.rating, t.rating_comment, "
    "t.reply_due_at, t.resolve_due_at, t.department, t.tier_since, t.paused_at, t.reminded_at, "
    "(SELECT COUNT(*) FROM ticket_followers f WHERE f.ticket_id = t.id), t.reply_missed_at, t.resolve_missed_at,"
    " t.waiting_tier, t.callback_phone, t.closed_at, t.confirm_reminded_at"
)
_OPEN = tuple(s.value for s in OPEN_STATUSES)
_OPEN_SQL = "(" + ",".join("?" * len(_OPEN)) + ")"
# The same rule as domain.deadlines.is_overdue: a running clock past either deadline (two
# parameters: now, now).
_OVERDUE = (
    "(t.status != 'waiting_resident' AND ((t.resolve_due_at IS NOT NULL AND t.resolve_due_at <= ?)"
    " OR (t.first_reply_at IS NULL AND t.reply_due_at IS NOT NULL AND t.reply_due_at <= ?)))"
)
# What each order of domain.console.SORTS sorts by; ties by number, the same way.
_CONSOLE_ORDER = {
    "created_at": "t.created_at{desc}, t.id{desc}",
    # Every ticket is filed with deadlines (domain.deadlines), so no NULL sorts differently in
    # SQLite (first) and PostgreSQL (last); the index of open tickets by deadline serves the order.
    "resolve_due_at": "t.resolve_due_at{desc}, t.id{desc}",
    # The latest event of each ticket (index ticket_events_ticket): every ticket that matches is looked up.
    "updated_at": "(SELECT MAX(e.id) FROM ticket_events e WHERE e.ticket_id = t.id){desc}, t.id{desc}",
}
_PUBLIC = tuple(k.value for k in PUBLIC_KINDS)
_PUBLIC_SQL = "(" + ",".join("?" * len(_PUBLIC)) + ")"


def _containing(text: str) -> str:
    """A LIKE pattern (with ESCAPE '\\') for `text` anywhere."""
    return "%" + text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"


def ticket_from_row(row: Sequence, attachments: tuple[Attachment, ...] = (), after: tuple[Attachment, ...] = ()) -> Ticket:
    return Ticket(
        id=row[0],
        kind=Kind(row[1]),
        category_code=row[2],
        grid_code=row[3],
        resident_id=row[4],
        share_contact=bool(row[5]),
        description=row[6],
        lat=row[7],
        lon=row[8],
        status=Status(row[9]),
        tier=Tier(row[10]),
        assignee_id=row[11],
        created_at=row[12],
        first_reply_at=row[13],
        resolved_at=row[14],
        resolved_tier=Tier(row[15]) if row[15] else None,
        confirmed_at=row[16],
        rating=row[17],
        rating_comment=row[18],
        reply_due_at=row[19],
        resolve_due_at=row[20],
        department=row[21],
        tier_since=row[22],
        paused_at=row[23],
        reminded_at=row[24],
        follower_count=row[25],
        reply_missed_at=row[26],
        resolve_missed_at=row[27],
        attachments=attachments,
        after_attachments=after,
        waiting_tier=Tier(row[28]) if row[28] else None,
        callback_phone=row[29],
        closed_at=row[30],
        confirm_reminded_at=row[31],
    )


USER_COLUMNS = (
    "u.telegram_id, u.language, u.full_name, u.username, u.unreachable, u.telegram_language, u.opened_at"
)


def _user(row: Sequence) -> Resident:
    return Resident(row[0], row[1], row[2], row[3], bool(row[4]), row[5], row[6])


def _grid(row: Sequence) -> Grid:
    return Grid(*row)


# A ticket the public board may show (domain.board.on_board): open, or resolved or confirmed at or
# after a time (_on_board_params); merged ones never.
_ON_BOARD_SQL = f"(t.status IN {_OPEN_SQL} OR (t.status IN (?, ?) AND COALESCE(t.confirmed_at, t.resolved_at) >= ?))"


def _on_board_params(closed_since: int) -> tuple:
    return (*_OPEN, Status.RESOLVED.value, Status.CLOSED.value, closed_since)


def _public_post(row: Sequence) -> PublicPost:
    return PublicPost(row[0], Decision(row[1]), row[2], frozenset(json.loads(row[3])), row[4], row[5])


CATEGORY_COLUMNS = "code, name_zh, name_en, department, reply_within, resolve_within, deadline_unit"


def _category(row: Sequence) -> Category:
    return Category(*row[:6], DeadlineUnit(row[6]))


class SqlStorage(StatsMixin, FormsMixin, CodesMixin, ApiKeysMixin, ChannelPostsMixin, Storage):
    """Every `Storage` method over the three primitives a backend provides (with `close` and
    `backup_to`)."""

    # The operator that matches a grid's name as SQLite's LIKE does: ignoring ASCII case.
    _LIKE = "LIKE"
    # Rows a claim selects are locked, and rows another process's claim has locked are passed
    # over (PostgreSQL); SQLite's write transactions run one at a time anyway.
    _SKIP_LOCKED = ""

    @abstractmethod
    async def _transaction(self, work: Callable[[], Work[T]], durable: bool = True, write: bool = True) -> T:
        """Run `work()` as one transaction. `durable=False`: the commit need not wait for the disk
        (a form's step); `write=False`: it only reads, but its reads agree with each other."""

    @abstractmethod
    async def _all(self, sql: str, params: Sequence[Any] | Mapping[str, Any] = ()) -> list[Sequence[Any]]:
        """The rows of one query, outside any transaction."""

    @abstractmethod
    async def _read(self, work: Callable[[], Work[T]]) -> T:
        """Run `work()` in one read transaction that may take seconds (statistics) without
        holding up the bot's writes; temporary tables are its own."""

    async def _one(self, sql: str, params: Sequence[Any] | Mapping[str, Any] = ()) -> Sequence[Any] | None:
        found = await self._all(sql, params)
        return found[0] if found else None

    async def _after_migrations(self, fresh: bool) -> None:
        """A new database starts with the default service categories."""
        if fresh:
            await self.upsert_categories(DEFAULT_CATEGORIES)

    async def is_empty(self) -> bool:
        row = await self._one(
            "SELECT (SELECT COUNT(*) FROM grids) + (SELECT COUNT(*) FROM staff)"
            " + (SELECT COUNT(*) FROM tickets) + (SELECT COUNT(*) FROM users)"
            " + (SELECT COUNT(*) FROM shops) + (SELECT COUNT(*) FROM sites)"
        )
        return row[0] == 0

    # -- grids, staff, categories -----------------------------------------------------------------
    async def upsert_grids(self, grids: Iterable[Grid]) -> None:
        await self._run_many(
            "INSERT INTO grids(code, name, village, town, lat, lon) VALUES (?,?,?,?,?,?)"
            " ON CONFLICT(code) DO UPDATE SET name=excluded.name, village=excluded.village,"
            " town=excluded.town, lat=excluded.lat, lon=excluded.lon",
            ((g.code, g.name, g.village, g.town, g.lat, g.lon) for g in grids),
        )

    async def get_grid(self, code: str) -> Grid | None:
        row = await self._one(
            "SELECT code, name, village, town, lat, lon FROM grids WHERE code = ?", (code,)
        )
        return _grid(row) if row else None

    async def list_grids(self) -> list[Grid]:
        rows = await self._all(
            "SELECT code, name, village, town, lat, lon FROM grids ORDER BY town, village, code"
        )
        return [_grid(r) for r in rows]

    async def search_grids(self, text: str, limit: int = 10) -> list[Grid]:
        pattern = _containing(text)
        rows = await self._all(
            "SELECT code, name, village, town, lat, lon FROM grids"
            f" WHERE name {self._LIKE} ?1 ESCAPE '\\' OR village {self._LIKE} ?1 ESCAPE '\\'"
            f" OR code {self._LIKE} ?1 ESCAPE '\\'"
            " ORDER BY town, village, code LIMIT ?2",
            (pattern, limit),
        )
        return [_grid(r) for r in rows]

    async def upsert_staff(self, staff: Sequence[StaffMember]) -> None:
        await self._run_many(
            "INSERT INTO staff(telegram_id, name, role, scope) VALUES (?,?,?,?)"
            " ON CONFLICT(telegram_id, role, scope) DO UPDATE SET name=excluded.name",
            [(s.telegram_id, s.name, s.role.value, s.scope) for s in staff],
        )

    async def roles_of(self, telegram_id: int) -> list[RoleGrant]:
        rows = await self._all(
            "SELECT role, scope FROM staff WHERE telegram_id = ? ORDER BY role, scope",
            (telegram_id,),
        )
        return [RoleGrant(Role(r[0]), r[1]) for r in rows]

    async def list_staff(self) -> list[StaffMember]:
        rows = await self._all(
            "SELECT telegram_id, name, role, scope FROM staff ORDER BY telegram_id, role, scope"
        )
        return [StaffMember(r[0], r[1], Role(r[2]), r[3]) for r in rows]

    async def staff_with_role(self, role: Role, scope: str | None = None) -> list[StaffMember]:
        sql = "SELECT telegram_id, name, role, scope FROM staff WHERE role = ?"
        params: list = [role.value]
        if scope is not None:
            sql += " AND scope = ?"
            params.append(scope)
        rows = await self._all(sql + " ORDER BY telegram_id", params)
        return [StaffMember(r[0], r[1], Role(r[2]), r[3]) for r in rows]

    async def remove_staff(self, telegram_id: int, role: Role | None = None, scope: str | None = None) -> list[StaffMember]:
        where, params = "telegram_id = ?", [telegram_id]
        if role is not None:
            where, params = where + " AND role = ?", [*params, role.value]
        if scope is not None:
            where, params = where + " AND scope = ?", [*params, scope]

        def write() -> Work[list[StaffMember]]:
            found = yield select(f"SELECT telegram_id, name, role, scope FROM staff WHERE {where}", params)
            yield run(f"DELETE FROM staff WHERE {where}", params)
            return [StaffMember(r[0], r[1], Role(r[2]), r[3]) for r in found]

        return await self._transaction(write)

    async def replace_staff(self, staff: Sequence[StaffMember]) -> list[StaffMember]:
        keep = {(s.telegram_id, s.role.value, s.scope) for s in staff}

        def write() -> Work[list[StaffMember]]:
            found = yield select("SELECT telegram_id, name, role, scope FROM staff")
            gone = [r for r in found if (r[0], r[2], r[3]) not in keep]
            yield run_many("DELETE FROM staff WHERE telegram_id = ? AND role = ? AND scope = ?",
                           [(r[0], r[2], r[3]) for r in gone])
            yield run_many(
                "INSERT INTO staff(telegram_id, name, role, scope) VALUES (?,?,?,?)"
                " ON CONFLICT(telegram_id, role, scope) DO UPDATE SET name=excluded.name",
                [(s.telegram_id, s.name, s.role.value, s.scope) for s in staff],
            )
            return [StaffMember(r[0], r[1], Role(r[2]), r[3]) for r in gone]

        return await self._transaction(write)

    async def reachable(self, telegram_ids: Sequence[int]) -> set[int]:
        ids = list(dict.fromkeys(telegram_ids))
        if not ids:
            return set()
        rows = await self._all(
            f"SELECT telegram_id FROM users WHERE telegram_id IN ({','.join('?' * len(ids))})"
            " AND opened_at IS NOT NULL AND NOT unreachable",
            ids,
        )
        return {r[0] for r in rows}

    async def upsert_categories(self, categories: Iterable[Category]) -> None:
        def write() -> Work[None]:
            (last,) = yield one("SELECT COALESCE(MAX(position), 0) FROM categories")
            yield run_many(
                "INSERT INTO categories(code, name_zh, name_en, department, reply_within,"
                " resolve_within, deadline_unit, position) VALUES (?,?,?,?,?,?,?,?)"
                " ON CONFLICT(code) DO UPDATE SET name_zh=excluded.name_zh,"
                " name_en=excluded.name_en, department=excluded.department,"
                " reply_within=excluded.reply_within, resolve_within=excluded.resolve_within,"
                " deadline_unit=excluded.deadline_unit",
                (
                    (c.code, c.name_zh, c.name_en, c.department, c.reply_within, c.resolve_within,
                     c.deadline_unit.value, last + i + 1)
                    for i, c in enumerate(categories)
                ),
            )

        await self._transaction(write)

    async def list_categories(self) -> list[Category]:
        rows = await self._all(f"SELECT {CATEGORY_COLUMNS} FROM categories ORDER BY position, code")
        return [_category(r) for r in rows]

    async def get_category(self, code: str) -> Category | None:
        row = await self._one(f"SELECT {CATEGORY_COLUMNS} FROM categories WHERE code = ?", (code,))
        return _category(row) if row else None

    async def list_departments(self) -> list[str]:
        rows = await self._all(
            "SELECT department FROM categories UNION SELECT scope FROM staff WHERE role = 'department'"
            " ORDER BY 1"
        )
        return [r[0] for r in rows]

    async def upsert_calendar_days(self, days: Sequence[CalendarDay]) -> None:
        await self._run_many(
            "INSERT INTO calendar_days(day, working) VALUES (?, ?)"
            " ON CONFLICT(day) DO UPDATE SET working = excluded.working",
            [(d.day.isoformat(), d.working) for d in days],
        )

    async def calendar_days(self) -> dict[date, bool]:
        rows = await self._all("SELECT day, working FROM calendar_days")
        return {date.fromisoformat(day): bool(working) for day, working in rows}

    # -- users ------------------------------------------------------------------------------------
    async def touch_user(
        self, telegram_id: int, full_name: str, username: str | None, telegram_language: str | None
    ) -> tuple[Resident, list[RoleGrant], bool]:
        # One query for the profile and the roles: this runs on every update.
        rows = await self._all(
            f"SELECT {USER_COLUMNS}, s.role, s.scope FROM (SELECT CAST(?1 AS BIGINT) AS id) q"
            " LEFT JOIN users u ON u.telegram_id = q.id LEFT JOIN staff s ON s.telegram_id = q.id"
            " ORDER BY s.role, s.scope",
            (telegram_id,),
        )
        grants = [RoleGrant(Role(r[7]), r[8]) for r in rows if r[7] is not None]
        before = _user(rows[0]) if rows[0][0] is not None else None
        if before is not None and before.reachable and (before.full_name, before.username, before.telegram_language) == (
            full_name, username, telegram_language
        ):
            return before, grants, False
        now = int(time.time())
        await self._run_many(
            "INSERT INTO users(telegram_id, full_name, username, telegram_language, created_at, opened_at)"
            " VALUES (?, ?, ?, ?, ?, ?)"
            " ON CONFLICT(telegram_id) DO UPDATE SET full_name=excluded.full_name,"
            " username=excluded.username, telegram_language=excluded.telegram_language,"
            " unreachable=FALSE, opened_at=COALESCE(users.opened_at, excluded.opened_at)",
            [(telegram_id, full_name, username, telegram_language, now, now)],
        )
        user = await self.get_user(telegram_id)
        assert user is not None
        return user, grants, before is None or not before.reachable

    async def get_user(self, telegram_id: int) -> Resident | None:
        row = await self._one(f"SELECT {USER_COLUMNS} FROM users u WHERE u.telegram_id = ?", (telegram_id,))
        return _user(row) if row else None

    async def _set_user_column(self, telegram_id: int, column: str, value) -> None:
        def write() -> Work[None]:
            yield run(
                "INSERT INTO users(telegram_id, created_at) VALUES (?, ?) ON CONFLICT(telegram_id) DO NOTHING",
                (telegram_id, int(time.time())),
            )
            yield run(f"UPDATE users SET {column} = ? WHERE telegram_id = ?", (value, telegram_id))

        await self._transaction(write)

    async def set_language(self, telegram_id: int, language: str) -> None:
        await self._set_user_column(telegram_id, "language", language)

    async def mark_unreachable(self, telegram_id: int) -> None:
        await self._set_user_column(telegram_id, "unreachable", True)

    async def set_digest_choice(self, telegram_id: int, choice: DigestChoice) -> None:
        await self._set_user_column(telegram_id, "digest", choice.value)

    async def digest_choices(self, telegram_ids: Sequence[int]) -> dict[int, DigestChoice]:
        ids = sorted(set(telegram_ids))
        rows = await self._all(
            f"SELECT telegram_id, digest FROM users WHERE telegram_id IN ({','.join('?' * len(ids))})",
            ids,
        ) if ids else []
        stored = {row[0]: DigestChoice(row[1]) for row in rows}
        return {i: stored.get(i, DEFAULT_DIGEST_CHOICE) for i in ids}

    async def mark_not_opened(self, telegram_id: int) -> None:
        await self._set_user_column(telegram_id, "opened_at", None)

    # -- tickets ----------------------------------------------------------------------------------
    @staticmethod
    def _insert_event(event: TicketEvent, tier: str | None) -> Statement:
        # With the ticket's status after the event, so that the log alone tells the state of any
        # ticket at any moment (statistics of closed periods, storage/stats_sql.py).
        return run(
            "INSERT INTO ticket_events(ticket_id, at, type, actor_id, tier, note, data, status)"
            " VALUES (?,?,?,?,?,?,?,(SELECT status FROM tickets WHERE id = ?))",
            (event.ticket_id, event.at, event.type.value, event.actor_id, tier, event.note,
             json.dumps(event.data, ensure_ascii=False), event.ticket_id),
        )

    @staticmethod
    def _insert_notices(notices: Sequence[Notice], now: int) -> Statement:
        return run_many(
            "INSERT INTO outbox(chat_id, type, ticket_id, data, created_at, next_attempt_at, priority)"
            " VALUES (?,?,?,?,?,?,?)",
            [(n.chat_id, n.type, n.ticket_id, json.dumps(n.data, ensure_ascii=False), now, now, 0 if n.urgent else 1)
             for n in notices],
        )

    @staticmethod
    def _insert_attachments(ticket_id: int, stage: str, attachments: Sequence[Attachment]) -> Statement:
        return run_many(
            "INSERT INTO ticket_attachments(ticket_id, stage, position, file_id, file_unique_id, kind)"
            " VALUES (?,?,?,?,?,?)",
            [(ticket_id, stage, i, a.file_id, a.file_unique_id, a.kind.value) for i, a in enumerate(attachments)],
        )

    async def _run_many(self, sql: str, params: Iterable[Sequence[Any]]) -> None:
        """One statement for each of `params`, as one transaction."""

        def write() -> Work[None]:
            yield run_many(sql, params)

        await self._transaction(write)

    async def create_ticket(
        self, ticket: NewTicket, now: int, notices: Sequence[Notice] = ()
    ) -> tuple[Ticket, bool]:
        def write() -> Work[tuple[int, bool]]:
            # A repeated source_key (an update delivered again, maybe to another replica at the
            # same moment) inserts nothing and finds the ticket stored the first time.
            inserted = yield one(
                "INSERT INTO tickets(kind, category_code, grid_code, resident_id, share_contact,"
                " description, lat, lon, status, tier, department, created_at, tier_since,"
                " reply_due_at, resolve_due_at, source_key, waiting_tier, callback_phone)"
                " VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)"
                " ON CONFLICT(source_key) DO NOTHING RETURNING id",
                (ticket.kind.value, ticket.category_code, ticket.grid_code, ticket.resident_id,
                 ticket.share_contact, ticket.description, ticket.lat, ticket.lon,
                 Status.NEW.value, ticket.tier.value, ticket.department, now, now,
                 ticket.reply_due_at, ticket.resolve_due_at, ticket.source_key,
                 ticket.waiting_tier.value if ticket.waiting_tier else None, ticket.callback_phone),
            )
            if inserted is None:
                (existing,) = yield one("SELECT id FROM tickets WHERE source_key = ?", (ticket.source_key,))
                return existing, False
            (ticket_id,) = inserted
            yield self._insert_attachments(ticket_id, "report", ticket.attachments)
            yield self._insert_event(TicketEvent(ticket_id, now, EventType.CREATED, ticket.resident_id), ticket.tier.value)
            yield self._insert_notices([replace(n, ticket_id=ticket_id) for n in notices], now)
            return ticket_id, True

        ticket_id, created = await self._transaction(write)
        stored = await self.get_ticket(ticket_id)
        assert stored is not None
        return stored, created

    async def get_ticket(self, ticket_id: int) -> Ticket | None:
        def read() -> Work[Ticket | None]:
            row = yield one(f"SELECT {TICKET_COLUMNS} FROM tickets t WHERE t.id = ?", (ticket_id,))
            if row is None:
                return None
            media = yield select(
                "SELECT stage, file_id, file_unique_id, kind FROM ticket_attachments WHERE ticket_id = ?"
                " ORDER BY stage, position",
                (ticket_id,),
            )
            report = tuple(Attachment(m[1], m[2], MediaKind(m[3])) for m in media if m[0] == "report")
            after = tuple(Attachment(m[1], m[2], MediaKind(m[3])) for m in media if m[0] == "after")
            return ticket_from_row(row, report, after)

        return await self._transaction(read, write=False)

    async def change_ticket(
        self,
        ticket_id: int,
        expected: Status,
        change: TicketChange,
        event: TicketEvent,
        notices: Sequence[Notice] = (),
    ) -> Ticket | None:
        columns: dict[str, object] = {"status": change.status.value}
        for name in ("grid_code", "department", "assignee_id", "first_reply_at", "resolved_at",
                     "confirmed_at", "rating", "rating_comment", "reply_due_at", "resolve_due_at",
                     "tier_since", "paused_at", "reminded_at", "confirm_reminded_at"):
            value = getattr(change, name)
            if value is not None:
                columns[name] = value
        for name in ("tier", "resolved_tier"):
            value = getattr(change, name)
            if value is not None:
                columns[name] = value.value
        if change.clear_assignee:
            columns["assignee_id"] = None
        if change.resume_clock:
            columns["paused_at"] = None
        if change.new_deadline_window:
            columns.update(reminded_at=None, reply_missed_at=None, resolve_missed_at=None)
        if change.tier is not None or change.assignee_id is not None:
            # Moved, or taken where it is held: it waits for its own tier only until then.
            columns["waiting_tier"] = change.waiting_tier.value if change.waiting_tier else None
        assignments = ", ".join(f"{name} = ?" for name in columns)
        if change.status not in OPEN_STATUSES and change.status is not Status.RESOLVED:
            assignments += ", closed_at = COALESCE(closed_at, ?)"  # closed for good: from the first time
            columns["closed_at"] = event.at

        def write() -> Work[bool]:
            changed = yield one(
                f"UPDATE tickets SET {assignments} WHERE id = ? AND status = ? RETURNING tier",
                (*columns.values(), ticket_id, expected.value),
            )
            if changed is None:
                return False
            if change.after_attachments:
                yield run("DELETE FROM ticket_attachments WHERE ticket_id = ? AND stage = 'after'", (ticket_id,))
                yield self._insert_attachments(ticket_id, "after", change.after_attachments)
            yield self._insert_event(event, changed[0])
            if change.return_visit is not None:
                yield from self._open_return_visit(ticket_id, *change.return_visit, event.at, changed[0])
            yield self._insert_notices(notices, event.at)
            return True

        if not await self._transaction(write):
            return None
        return await self.get_ticket(ticket_id)

    def _open_return_visit(self, ticket_id: int, reason: VisitReason, tier: Tier, now: int,
                           ticket_tier: str) -> Work[None]:
        opened = yield one(
            "INSERT INTO return_visits(ticket_id, reason, tier, created_at) VALUES (?,?,?,?)"
            " ON CONFLICT DO NOTHING RETURNING id",
            (ticket_id, reason.value, tier.value, now),
        )
        if opened is not None:
            data = {"visit_id": opened[0], "reason": reason.value, "tier": tier.value}
            # With the ticket's own tier: the visit does not move the ticket (statistics read its tier).
            yield self._insert_event(TicketEvent(ticket_id, now, EventType.VISIT_DUE, None, None, data), ticket_tier)

    async def tickets_unconfirmed(self, remind_before: int, close_before: int, limit: int = 500) -> list[Ticket]:
        rows = await self._all(
            f"SELECT {TICKET_COLUMNS} FROM tickets t WHERE t.status = 'resolved'"
            " AND (t.resolved_at <= ?2 OR (t.resolved_at <= ?1"
            "      AND (t.confirm_reminded_at IS NULL OR t.confirm_reminded_at < t.resolved_at)))"
            " ORDER BY t.resolved_at LIMIT ?3",
            (remind_before, close_before, limit),
        )
        return [ticket_from_row(r) for r in rows]

    async def erase_callback_phones(self, closed_before: int) -> int:
        def write() -> Work[int]:
            return (yield run(
                "UPDATE tickets SET callback_phone = NULL WHERE callback_phone IS NOT NULL AND closed_at < ?",
                (closed_before,),
            ))

        return await self._transaction(write)

    _VISIT_COLUMNS = "id, ticket_id, reason, tier, created_at, visited_at, visitor_id, outcome"

    @staticmethod
    def _visit(row: Sequence) -> ReturnVisit:
        return ReturnVisit(row[0], row[1], VisitReason(row[2]), Tier(row[3]), row[4], row[5], row[6],
                           VisitOutcome(row[7]) if row[7] else None)

    async def return_visits(self, ticket_id: int) -> list[ReturnVisit]:
        rows = await self._all(f"SELECT {self._VISIT_COLUMNS} FROM return_visits WHERE ticket_id = ? ORDER BY id",
                               (ticket_id,))
        return [self._visit(r) for r in rows]

    async def get_return_visit(self, visit_id: int) -> ReturnVisit | None:
        row = await self._one(f"SELECT {self._VISIT_COLUMNS} FROM return_visits WHERE id = ?", (visit_id,))
        return self._visit(row) if row else None

    async def record_return_visit(self, visit_id: int, outcome: VisitOutcome, event: TicketEvent,
                                  notices: Sequence[Notice] = ()) -> bool:
        def write() -> Work[bool]:
            recorded = yield run(
                "UPDATE return_visits SET visited_at = ?, visitor_id = ?, outcome = ? WHERE id = ? AND visited_at IS NULL",
                (event.at, event.actor_id, outcome.value, visit_id),
            )
            if recorded != 1:
                return False
            (tier,) = yield one("SELECT tier FROM tickets WHERE id = ?", (event.ticket_id,))
            yield self._insert_event(event, tier)
            yield self._insert_notices(notices, event.at)
            return True

        return await self._transaction(write)

    async def record_event(self, event: TicketEvent, notices: Sequence[Notice] = ()) -> None:
        def write() -> Work[None]:
            row = yield one("SELECT tier FROM tickets WHERE id = ?", (event.ticket_id,))
            yield self._insert_event(event, row[0] if row else None)
            yield self._insert_notices(notices, event.at)

        await self._transaction(write)

    async def record_deadline_miss(self, event: TicketEvent) -> bool:
        column = {"reply": "reply_missed_at", "resolve": "resolve_missed_at"}[event.data["deadline"]]

        def write() -> Work[bool]:
            changed = yield run(
                f"UPDATE tickets SET {column} = ? WHERE id = ? AND {column} IS NULL",
                (event.at, event.ticket_id),
            )
            if changed != 1:
                return False
            yield self._insert_event(event, event.data["tier"])
            return True

        return await self._transaction(write)

    async def add_follower(
        self, ticket_id: int, resident_id: int, event: TicketEvent, notices: Sequence[Notice] = ()
    ) -> bool:
        def write() -> Work[bool]:
            row = yield one("SELECT resident_id FROM tickets WHERE id = ?", (ticket_id,))
            if row is None or row[0] == resident_id:
                return False
            added = yield run(
                "INSERT INTO ticket_followers(ticket_id, resident_id, created_at) VALUES (?,?,?)"
                " ON CONFLICT DO NOTHING",
                (ticket_id, resident_id, event.at),
            )
            if added != 1:
                return False
            yield self._insert_event(event, None)
            yield self._insert_notices(notices, event.at)
            return True

        return await self._transaction(write)

    async def merge_ticket(
        self,
        ticket_id: int,
        expected: Status,
        into_id: int,
        event: TicketEvent,
        follows: Sequence[TicketEvent],
        notices: Sequence[Notice] = (),
    ) -> bool:
        def write() -> Work[bool]:
            kept = yield one(f"SELECT 1 FROM tickets WHERE id = ? AND status IN {_OPEN_SQL}", (into_id, *_OPEN))
            if kept is None:
                return False
            merged = yield one(
                "UPDATE tickets SET status = ?, closed_at = ? WHERE id = ? AND status = ? RETURNING tier",
                (Status.MERGED.value, event.at, ticket_id, expected.value),
            )
            if merged is None:
                return False
            yield self._insert_event(event, merged[0])
            for follow in follows:
                yield run(
                    "INSERT INTO ticket_followers(ticket_id, resident_id, created_at) VALUES (?,?,?)"
                    " ON CONFLICT DO NOTHING",
                    (into_id, follow.actor_id, follow.at),
                )
                yield self._insert_event(follow, None)
            yield self._insert_notices(notices, event.at)
            return True

        return await self._transaction(write)

    async def followers(self, ticket_id: int) -> list[int]:
        rows = await self._all(
            "SELECT resident_id FROM ticket_followers WHERE ticket_id = ? ORDER BY created_at",
            (ticket_id,),
        )
        return [r[0] for r in rows]

    async def events(self, ticket_id: int) -> list[TicketEvent]:
        rows = await self._all(
            "SELECT ticket_id, at, type, actor_id, note, data FROM ticket_events"
            " WHERE ticket_id = ? ORDER BY id",
            (ticket_id,),
        )
        return [TicketEvent(r[0], r[1], EventType(r[2]), r[3], r[4], json.loads(r[5])) for r in rows]

    async def open_tickets(self, grid_code: str, category_code: str, limit: int = 5) -> list[Ticket]:
        rows = await self._all(
            f"SELECT {TICKET_COLUMNS} FROM tickets t WHERE t.grid_code = ? AND t.category_code = ?"
            f" AND t.status IN {_OPEN_SQL} AND t.kind IN {_PUBLIC_SQL} ORDER BY t.id DESC LIMIT ?",
            (grid_code, category_code, *_OPEN, *_PUBLIC, limit),
        )
        return [ticket_from_row(r) for r in rows]

    async def grid_open_tickets(self, grid_code: str, limit: int = 20) -> list[Ticket]:
        rows = await self._all(
            f"SELECT {TICKET_COLUMNS} FROM tickets t WHERE t.grid_code = ? AND t.status IN {_OPEN_SQL}"
            " ORDER BY t.id DESC LIMIT ?",
            (grid_code, *_OPEN, limit),
        )
        return [ticket_from_row(r) for r in rows]

    async def resident_tickets(self, resident_id: int, limit: int = 20) -> list[Ticket]:
        rows = await self._all(
            f"SELECT {TICKET_COLUMNS} FROM tickets t WHERE t.resident_id = ?1"
            " OR t.id IN (SELECT ticket_id FROM ticket_followers WHERE resident_id = ?1)"
            " ORDER BY t.id DESC LIMIT ?2",
            (resident_id, limit),
        )
        return [ticket_from_row(r) for r in rows]

    async def tickets_waiting_for(self, role: Role, scope: str) -> list[Ticket]:
        match = {
            Role.GRID_WORKER: "t.waiting_tier = 'grid' AND t.grid_code = ?",
            # held at the town while its grid and village had nobody reachable
            Role.VILLAGE: "t.tier = 'town' AND t.waiting_tier IN ('grid', 'village') AND g.village = ?",
            Role.DEPARTMENT: "t.waiting_tier = 'department' AND t.department = ?",
        }.get(role)
        if match is None:
            return []  # the town command centre is the top: nothing is held above it
        rows = await self._all(
            f"SELECT {TICKET_COLUMNS} FROM tickets t JOIN grids g ON g.code = t.grid_code"
            f" WHERE t.status IN {_OPEN_SQL} AND {match} ORDER BY t.created_at, t.id",
            (*_OPEN, scope),
        )
        return [ticket_from_row(r) for r in rows]

    @staticmethod
    def _handled_by(grants: Sequence[RoleGrant]) -> tuple[str, list] | None:
        """The condition on `t` (joined with its grid `g`) for open tickets these roles handle now."""
        clauses: list[str] = []
        params: list = []
        for grant in grants:
            if grant.role is Role.ADMIN:
                return f"t.status IN {_OPEN_SQL}", list(_OPEN)
            if grant.role is Role.GRID_WORKER:
                clauses.append("(t.tier = 'grid' AND t.grid_code = ?)")
            elif grant.role is Role.VILLAGE:
                clauses.append("(t.tier = 'village' AND g.village = ?)")
            elif grant.role is Role.TOWN:
                clauses.append("(t.tier = 'town' AND g.town = ?)")
            elif grant.role is Role.DEPARTMENT:
                clauses.append("(t.tier = 'department' AND t.department = ?)")
            else:
                continue
            params.append(grant.scope)
        if not clauses:
            return None
        return f"t.status IN {_OPEN_SQL} AND ({' OR '.join(clauses)})", [*_OPEN, *params]

    async def staff_queue(self, grants: Sequence[RoleGrant], limit: int = 50) -> list[Ticket]:
        handled = self._handled_by(grants)
        if handled is None:
            return []
        where, params = handled
        rows = await self._all(
            f"SELECT {TICKET_COLUMNS} FROM tickets t JOIN grids g ON g.code = t.grid_code"
            f" WHERE {where} ORDER BY t.created_at, t.id LIMIT ?",
            (*params, limit),
        )
        return [ticket_from_row(r) for r in rows]

    async def staff_queue_page(
        self, grants: Sequence[RoleGrant], now: int, offset: int = 0, limit: int = 10
    ) -> QueuePage:
        handled = self._handled_by(grants)
        if handled is None:
            return QueuePage([], 0, 0)
        where, params = handled
        base = f" FROM tickets t JOIN grids g ON g.code = t.grid_code WHERE {where}"
        counts = await self._one(f"SELECT COUNT(*), COUNT(CASE WHEN {_OVERDUE} THEN 1 END){base}", (now, now, *params))
        rows = await self._all(
            f"SELECT {TICKET_COLUMNS}{base} ORDER BY {_OVERDUE} DESC, t.created_at, t.id LIMIT ? OFFSET ?",
            (*params, now, now, limit, offset),
        )
        return QueuePage([ticket_from_row(r) for r in rows], counts[0], counts[1])

    async def overdue_tickets(
        self, now: int, towns: frozenset[str] | None, offset: int = 0, limit: int = 10
    ) -> tuple[int, list[Ticket]]:
        where = "t.status IN ('new', 'in_progress', 'reopened') AND t.resolve_due_at <= ?"
        params: list = [now]
        if towns is not None:
            if not towns:
                return 0, []
            where += " AND g.town IN (" + ",".join("?" * len(towns)) + ")"
            params += sorted(towns)
        source = f"FROM tickets t JOIN grids g ON g.code = t.grid_code WHERE {where}"

        def read() -> Work[tuple[int, list[Ticket]]]:
            (total,) = yield one(f"SELECT COUNT(*) {source}", params)
            page = yield select(
                f"SELECT {TICKET_COLUMNS} {source} ORDER BY t.resolve_due_at, t.id LIMIT ? OFFSET ?",
                (*params, limit, offset),
            )
            return total, [ticket_from_row(r) for r in page]

        return await self._transaction(read, write=False)

    # -- the console (rules: domain/console.py) -----------------------------------------------------
    # Above this many matching tickets, "latest changed first" reads the event log back from its
    # newest event (`_latest_changed`) rather than looking up the latest event of each
    # (bench/console_bench.py); its first chunk is this many events per ticket wanted.
    _WALK_EVENTS_ABOVE = 5000
    _WALK_EVENTS_PER_TICKET = 5

    @staticmethod
    def _in_scope(scope: ViewScope) -> tuple[str, list, str]:
        """The condition on `t` (and its grid `g`) for the tickets of `scope`, its parameters, and
        the join it needs (the grid, only for villages and towns)."""
        if scope.everything:
            return "TRUE", [], ""
        clauses, params = [], []
        for column, values in (("t.grid_code", scope.grids), ("g.village", scope.villages), ("g.town", scope.towns),
                               ("t.department", scope.departments)):
            if values:
                clauses.append(f"{column} IN ({','.join('?' * len(values))})")
                params += sorted(values)
        join = " JOIN grids g ON g.code = t.grid_code" if scope.villages or scope.towns else ""
        return "(" + (" OR ".join(clauses) or "FALSE") + ")", params, join

    async def console_tickets(self, scope: ViewScope, query: TicketQuery) -> tuple[int, list[Ticket]]:
        condition, params, join = self._in_scope(scope)
        where = [condition]
        for column, values in (("t.status", sorted(s.value for s in query.statuses)),
                               ("t.tier", sorted(t.value for t in query.tiers)),
                               ("t.category_code", sorted(query.categories)),
                               ("t.grid_code", sorted(query.grids))):
            if values:
                where.append(f"{column} IN ({','.join('?' * len(values))})")
                params += values
        if query.overdue_at is not None:
            where.append(f"t.status IN ('new', 'in_progress', 'reopened') AND {_OVERDUE}")
            params += [query.overdue_at, query.overdue_at]
        if query.waiting:
            where.append("t.status = 'waiting_resident'")
        if query.created_from is not None:
            where.append("t.created_at >= ?")
            params.append(query.created_from)
        if query.created_until is not None:
            where.append("t.created_at < ?")
            params.append(query.created_until)
        if query.number is not None:
            where.append("t.id = ?")
            params.append(query.number)
        elif query.text:
            where.append(f"t.description {self._LIKE} ? ESCAPE '\\'")
            params.append(_containing(query.text))
        matching = " AND ".join(where)
        source = f"FROM tickets t{join} WHERE {matching}"
        column, descending = SORTS[query.sort]
        order = _CONSOLE_ORDER[column].format(desc=" DESC" if descending else "")
        offset = (query.page - 1) * query.per_page

        def read() -> Work[tuple[int, list[Ticket]]]:
            (total,) = yield one(f"SELECT COUNT(*) {source}", params)
            # Reading the log back pays off for many tickets, unless they are of a past period:
            # their events would lie behind everything written since.
            dated = query.created_from is not None or query.created_until is not None
            if column != "updated_at" or total <= self._WALK_EVENTS_ABOVE or dated:
                page = yield select(f"SELECT {TICKET_COLUMNS} {source} ORDER BY {order} LIMIT ? OFFSET ?",
                                    (*params, query.per_page, offset))
                return total, [ticket_from_row(r) for r in page]
            ids = (yield from self._latest_changed(join, matching, params, offset + query.per_page))[offset:]
            if not ids:
                return total, []
            rows = yield select(f"SELECT {TICKET_COLUMNS} FROM tickets t WHERE t.id IN ({','.join('?' * len(ids))})",
                                ids)
            by_id = {r[0]: ticket_from_row(r) for r in rows}
            return total, [by_id[i] for i in ids]

        return await self._transaction(read, write=False)

    def _latest_changed(self, join: str, matching: str, params: list, count: int) -> Work[list[int]]:
        """The ids of the first `count` tickets matching `matching` by their latest event, newest
        first: the event log read back from its newest event, a chunk at a time (each twice the one
        before), until that many tickets turned up (the order of _CONSOLE_ORDER["updated_at"],
        without looking up the latest event of every ticket that matches)."""
        found: dict[int, None] = {}  # in the order first seen
        before: list[int] = []
        chunk = count * self._WALK_EVENTS_PER_TICKET
        while len(found) < count:
            # CROSS JOIN: SQLite reads the events in the outer loop, newest first, and stops early.
            events = yield select(
                f"SELECT e.id, e.ticket_id FROM ticket_events e CROSS JOIN tickets t{join}"
                f" WHERE t.id = e.ticket_id AND {matching}{' AND e.id < ?' if before else ''}"
                " ORDER BY e.id DESC LIMIT ?",
                (*params, *before, chunk),
            )
            found.update(dict.fromkeys(ticket_id for _event, ticket_id in events))  # a key seen keeps its place
            if len(events) < chunk:
                break
            before, chunk = [events[-1][0]], chunk * 2
        return list(found)[:count]

    async def console_changes(self, scope: ViewScope, since: int | None, settled_before: int,
                              limit: int = 500) -> tuple[int, list[int]]:
        condition, params, join = self._in_scope(scope)

        def read() -> Work[tuple[int, list[int]]]:
            settled = yield one("SELECT id FROM ticket_events WHERE at < ? ORDER BY id DESC LIMIT 1", (settled_before,))
            cursor = max(since or 0, settled[0] if settled else 0)
            if since is None:
                return cursor, []
            changed = yield select(
                f"SELECT e.ticket_id FROM ticket_events e JOIN tickets t ON t.id = e.ticket_id{join}"
                f" WHERE e.id > ? AND {condition} GROUP BY e.ticket_id ORDER BY MAX(e.id) DESC LIMIT ?",
                (since, *params, limit),
            )
            return cursor, [r[0] for r in changed]

        return await self._transaction(read, write=False)

    async def tickets_due(self, now: int, limit: int = 500) -> list[Ticket]:
        """Open tickets whose clock runs and whose reminder or deadline has come, oldest due first."""
        rows = await self._all(
            f"SELECT {TICKET_COLUMNS} FROM tickets t"
            " WHERE t.status IN ('new', 'in_progress', 'reopened') AND t.resolve_due_at IS NOT NULL"
            # Overdue (each moves on, so none fills the batch twice), or due a reminder.
            " AND (t.resolve_due_at <= ?1"
            "   OR (t.reminded_at IS NULL"
            # A quarter of the window left: domain.deadlines' reminder time, whole seconds.
            "       AND (t.resolve_due_at - ?1 <= (t.resolve_due_at - t.tier_since) * CAST(?3 AS DOUBLE PRECISION)"
            "            OR (t.first_reply_at IS NULL AND t.reply_due_at <= ?1)))"
            # A deadline that passed and whose miss is not recorded yet (departments too, once).
            "   OR (t.resolve_missed_at IS NULL AND t.resolve_due_at <= ?1)"
            "   OR (t.reply_missed_at IS NULL AND t.first_reply_at IS NULL AND t.reply_due_at <= ?1))"
            " ORDER BY t.resolve_due_at LIMIT ?2",
            (now, limit, REMINDER_SHARE),
        )
        return [ticket_from_row(r) for r in rows]

    # -- the public board ---------------------------------------------------------------------------
    async def public_post(self, ticket_id: int) -> PublicPost | None:
        row = await self._one(
            "SELECT ticket_id, decision, text, hidden_photos, decided_at, decided_by FROM public_posts"
            " WHERE ticket_id = ?", (ticket_id,),
        )
        return _public_post(row) if row else None

    async def decide_public(self, post: PublicPost, event: TicketEvent, notices: Sequence[Notice] = ()) -> None:
        def write() -> Work[None]:
            yield run(
                "INSERT INTO public_posts(ticket_id, decision, text, hidden_photos, decided_at, decided_by)"
                " VALUES (?,?,?,?,?,?) ON CONFLICT(ticket_id) DO UPDATE SET decision = excluded.decision,"
                " text = excluded.text, hidden_photos = excluded.hidden_photos,"
                " decided_at = excluded.decided_at, decided_by = excluded.decided_by",
                (post.ticket_id, post.decision.value, post.text, json.dumps(sorted(post.hidden_photos)),
                 post.decided_at, post.decided_by),
            )
            (tier,) = yield one("SELECT tier FROM tickets WHERE id = ?", (post.ticket_id,))
            yield self._insert_event(event, tier)
            yield self._insert_notices(notices, event.at)

        await self._transaction(write)

    async def undecided_public_tickets(
        self, grid_codes: Sequence[str], kinds: Sequence[Kind], closed_since: int, limit: int
    ) -> list[Ticket]:
        if not grid_codes or not kinds:
            return []
        grids = ",".join("?" * len(grid_codes))
        kind_marks = ",".join("?" * len(kinds))
        rows = await self._all(
            f"SELECT {TICKET_COLUMNS} FROM tickets t WHERE t.grid_code IN ({grids}) AND t.kind IN ({kind_marks})"
            f" AND NOT EXISTS (SELECT 1 FROM public_posts p WHERE p.ticket_id = t.id)"
            f" AND {_ON_BOARD_SQL}"
            " ORDER BY t.id LIMIT ?",
            (*grid_codes, *(k.value for k in kinds), *_on_board_params(closed_since), limit),
        )
        return [ticket_from_row(r) for r in rows]

    async def public_posts(self, grid_codes: Sequence[str], closed_since: int) -> list[tuple[Ticket, PublicPost]]:
        if not grid_codes:
            return []
        grids = ",".join("?" * len(grid_codes))
        rows = await self._all(
            f"SELECT t.id FROM tickets t JOIN public_posts p ON p.ticket_id = t.id WHERE p.decision = ?"
            f" AND t.grid_code IN ({grids})"
            f" AND {_ON_BOARD_SQL}"
            " ORDER BY t.id DESC",
            (Decision.PUBLIC.value, *grid_codes, *_on_board_params(closed_since)),
        )
        found = []
        for (ticket_id,) in rows:
            ticket, post = await self.get_ticket(ticket_id), await self.public_post(ticket_id)
            if ticket is not None and post is not None:
                found.append((ticket, post))
        return found

    # -- outbox -----------------------------------------------------------------------------------
    async def enqueue(self, notices: Sequence[Notice], now: int) -> None:
        def write() -> Work[None]:
            yield self._insert_notices(notices, now)

        await self._transaction(write)

    async def enqueue_once(self, key: str, value: str, notices: Sequence[Notice], now: int) -> bool:
        def write() -> Work[bool]:
            # One statement sets the key or finds it set, so two processes cannot both queue.
            changed = yield one(
                "INSERT INTO settings_kv(key, value) VALUES (?, ?)"
                " ON CONFLICT(key) DO UPDATE SET value = excluded.value WHERE settings_kv.value != excluded.value"
                " RETURNING key",
                (key, value),
            )
            if changed is None:
                return False
            yield self._insert_notices(notices, now)
            return True

        return await self._transaction(write)

    # Only the first unsent item of each chat is eligible (urgent ones first, then in order), so a
    # chat's messages keep order even while one of them waits for a retry.
    _CHAT_HEADS = (
        "SELECT id FROM (SELECT id, ROW_NUMBER() OVER (PARTITION BY chat_id ORDER BY priority, id) AS place"
        " FROM outbox WHERE sent_at IS NULL AND dropped_reason IS NULL) AS heads WHERE place = 1"
    )
    _ITEM_COLUMNS = "id, chat_id, type, ticket_id, data, attempts, created_at, priority"

    @staticmethod
    def _outbox_item(r: Sequence) -> OutboxItem:
        return OutboxItem(r[0], Notice(r[1], r[2], r[3], json.loads(r[4]), urgent=r[7] == 0), r[5], r[6])

    async def due_outbox(self, now: int, limit: int = 100) -> list[OutboxItem]:
        rows = await self._all(
            f"SELECT {self._ITEM_COLUMNS} FROM outbox"
            f" WHERE id IN ({self._CHAT_HEADS}) AND next_attempt_at <= ? ORDER BY id LIMIT ?",
            (now, limit),
        )
        return [self._outbox_item(r) for r in rows]

    async def claim_outbox(self, claimant: str, now: int, until: int, limit: int = 30) -> list[OutboxItem]:
        # A chat another claimant holds is passed over whole: an urgent notice queued after its
        # claim heads the chat now, but must not go out beside the one being sent. On a database of
        # one process another claimant can only be dead.
        unclaimed = (
            " AND (claimed_until IS NULL OR claimed_until < :now OR claimed_by = :me)"
            " AND chat_id NOT IN (SELECT chat_id FROM outbox WHERE sent_at IS NULL AND dropped_reason IS NULL"
            " AND claimed_until >= :now AND claimed_by != :me)"
        ) if self.shared else ""

        def write() -> Work[list[OutboxItem]]:
            found = yield select(
                f"UPDATE outbox SET claimed_by = :me, claimed_until = :until WHERE id IN ("
                f"SELECT id FROM outbox WHERE id IN ({self._CHAT_HEADS}) AND next_attempt_at <= :now{unclaimed}"
                f" ORDER BY id LIMIT :limit{self._SKIP_LOCKED}) RETURNING {self._ITEM_COLUMNS}",
                {"me": claimant, "until": until, "now": now, "limit": limit},
            )
            return sorted((self._outbox_item(r) for r in found), key=lambda item: item.id)

        return await self._transaction(write)

    async def keep_claim(self, claimant: str, item_id: int, until: int) -> bool:
        if not self.shared:
            return True  # nobody else sends: a write per notice would cost a sync to the disk for nothing

        def write() -> Work[bool]:
            kept = yield run(
                "UPDATE outbox SET claimed_until = ? WHERE id = ? AND claimed_by = ?"
                " AND sent_at IS NULL AND dropped_reason IS NULL",
                (until, item_id, claimant),
            )
            return kept == 1

        return await self._transaction(write)

    async def release_outbox(self, claimant: str, item_ids: Sequence[int]) -> None:
        await self._run_many(
            "UPDATE outbox SET claimed_by = NULL, claimed_until = NULL WHERE id = ? AND claimed_by = ?",
            [(item_id, claimant) for item_id in item_ids],
        )

    async def pending_alike(self, item: OutboxItem) -> list[OutboxItem]:
        rows = await self._all(
            f"SELECT {self._ITEM_COLUMNS} FROM outbox WHERE chat_id = ? AND ticket_id IS NOT DISTINCT FROM ? AND type = ?"
            " AND sent_at IS NULL AND dropped_reason IS NULL AND id != ? ORDER BY id",
            (item.notice.chat_id, item.notice.ticket_id, item.notice.type, item.id),
        )
        return [self._outbox_item(r) for r in rows]

    async def last_sent_at(self, chat_id: int, ticket_id: int, notice_type: str) -> int | None:
        row = await self._one(
            "SELECT MAX(sent_at) FROM outbox WHERE chat_id = ? AND ticket_id = ? AND type = ?",
            (chat_id, ticket_id, notice_type),
        )
        return row[0]

    async def sent_ticket_ids(self, chat_id: int, notice_type: str) -> set[int]:
        rows = await self._all(
            "SELECT DISTINCT ticket_id FROM outbox WHERE chat_id = ? AND type = ? AND sent_at IS NOT NULL",
            (chat_id, notice_type),
        )
        return {r[0] for r in rows if r[0] is not None}

    async def next_outbox_time(self) -> int | None:
        # Of the chats' first items only: one waiting behind a retry is not due before it.
        row = await self._one(f"SELECT MIN(next_attempt_at) FROM outbox WHERE id IN ({self._CHAT_HEADS})")
        return row[0]

    async def work_in_hand(self, now: int) -> WorkInHand:
        def read() -> Work[WorkInHand]:
            pending, oldest = yield one(
                "SELECT COUNT(*), MIN(created_at) FROM outbox WHERE sent_at IS NULL AND dropped_reason IS NULL")
            # Tickets whose clock runs, as the deadline watcher reads them (`tickets_due`).
            (overdue,) = yield one(
                "SELECT COUNT(*) FROM tickets WHERE status IN ('new', 'in_progress', 'reopened')"
                " AND resolve_due_at <= ?", (now,))
            (stored,) = yield one("SELECT COUNT(*) FROM incoming_updates")
            return WorkInHand(pending, oldest, overdue, stored)

        return await self._transaction(read, write=False)

    async def mark_sent(self, item_ids: Sequence[int], now: int) -> None:
        await self._run_many("UPDATE outbox SET sent_at = ? WHERE id = ?", [(now, i) for i in item_ids])

    async def retry_later(self, item_id: int, attempts: int, next_attempt_at: int) -> None:
        await self._run_many(
            "UPDATE outbox SET attempts = ?, next_attempt_at = ?, claimed_by = NULL, claimed_until = NULL WHERE id = ?",
            [(attempts, next_attempt_at, item_id)],
        )

    async def drop(self, item_id: int, reason: str) -> None:
        await self._run_many(
            "UPDATE outbox SET dropped_reason = ?, claimed_by = NULL, claimed_until = NULL WHERE id = ?",
            [(reason, item_id)],
        )

    # -- key-value --------------------------------------------------------------------------------
    async def get_value(self, key: str) -> str | None:
        row = await self._one("SELECT value FROM settings_kv WHERE key = ?", (key,))
        return row[0] if row else None

    async def set_value(self, key: str, value: str) -> None:
        await self._run_many(
            "INSERT INTO settings_kv(key, value) VALUES (?, ?) ON CONFLICT(key) DO UPDATE SET value = excluded.value",
            [(key, value)],
        )
