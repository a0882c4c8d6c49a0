"""Deadlines and tiers: "small matters stay in the grid, big ones in the village, hard ones in the
town, and nothing waits overnight". Pure functions of times in Unix seconds.

A tier's deadlines are computed once, by `deadlines` (and moved on by `shifted` after a pause), and
stored on the ticket: the deadline watcher (`due_action`) and the statistics' deadline misses
(`missed_deadlines`) both read those stored times, so they cannot disagree."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from domain.models import Category, DeadlineUnit, Status, Ticket, Tier
from domain.workdays import WorkCalendar

TIER_ORDER = (Tier.GRID, Tier.VILLAGE, Tier.TOWN, Tier.DEPARTMENT)
# The holder is reminded when this share of the resolve window is left.
REMINDER_SHARE = 0.25


def next_tier(tier: Tier) -> Tier | None:
    """The tier above, or None at the top (departments)."""
    index = TIER_ORDER.index(tier)
    return TIER_ORDER[index + 1] if index + 1 < len(TIER_ORDER) else None


def deadlines(category: Category, start: int, calendar: WorkCalendar) -> tuple[int, int]:
    """(reply due, resolve due) for a tier that takes the ticket at `start`, in the category's unit."""
    if category.deadline_unit is DeadlineUnit.WORKDAYS:
        return (calendar.add_working_days(start, round(category.reply_within)),
                calendar.add_working_days(start, round(category.resolve_within)))
    return start + round(category.reply_within * 3600), start + round(category.resolve_within * 3600)


def shifted(
    due: int | None, paused_at: int, now: int, category: Category | None, calendar: WorkCalendar
) -> int | None:
    """A deadline moved on by the time the clock was paused (waiting for the resident): in working
    days, by the working time that passed meanwhile."""
    if due is None:
        return None
    if category is not None and category.deadline_unit is DeadlineUnit.WORKDAYS:
        return calendar.add_working_time(due, calendar.working_time(paused_at, now))
    return due + max(0, now - paused_at)


def is_overdue(ticket: Ticket, now: int) -> bool:
    """A running clock past the reply deadline (no reply yet) or the resolve deadline; the same
    rule as storage's queue order."""
    if ticket.status is Status.WAITING_RESIDENT:
        return False
    resolve_late = ticket.resolve_due_at is not None and ticket.resolve_due_at <= now
    reply_late = ticket.first_reply_at is None and ticket.reply_due_at is not None and ticket.reply_due_at <= now
    return resolve_late or reply_late


def reminder_at(ticket: Ticket) -> int | None:
    """When the holder should be reminded of the resolve deadline."""
    if ticket.resolve_due_at is None:
        return None
    start = ticket.tier_since if ticket.tier_since is not None else ticket.created_at
    # The same arithmetic as storage's query for due tickets (truncated to whole seconds).
    return ticket.resolve_due_at - int((ticket.resolve_due_at - start) * REMINDER_SHARE)


class DueAction(StrEnum):
    ESCALATE = "escalate"
    REMIND = "remind"


@dataclass(frozen=True)
class Due:
    action: DueAction
    reply_overdue: bool  # no first reply by the reply deadline


RUNNING = frozenset({Status.NEW, Status.IN_PROGRESS, Status.REOPENED})


class Deadline(StrEnum):
    REPLY = "reply"
    RESOLVE = "resolve"


def missed_deadlines(ticket: Ticket, now: int) -> list[tuple[Deadline, int]]:
    """The current tier's deadlines that passed by `now` without being met and whose miss is not
    recorded yet, as (deadline, when it was due). A ticket waiting for the resident has its clock
    stopped: its deadlines move on when it runs again, so nothing is missed meanwhile."""
    if ticket.status not in RUNNING:
        return []
    misses = []
    if (ticket.reply_missed_at is None and ticket.first_reply_at is None
            and ticket.reply_due_at is not None and ticket.reply_due_at <= now):
        misses.append((Deadline.REPLY, ticket.reply_due_at))
    if ticket.resolve_missed_at is None and ticket.resolve_due_at is not None and ticket.resolve_due_at <= now:
        misses.append((Deadline.RESOLVE, ticket.resolve_due_at))
    return misses


def due_action(ticket: Ticket, now: int) -> Due | None:
    """What the deadline watcher owes this ticket now, if anything.

    Past the resolve deadline, a ticket moves up one tier (a department's goes back under the town
    command centre's supervision; see `TicketService`). Before that, the holder is reminded once per tier: when a quarter of the
    window is left, or when the reply deadline passed without a reply.
    """
    if ticket.status not in RUNNING or ticket.resolve_due_at is None:
        return None
    reply_overdue = (
        ticket.first_reply_at is None and ticket.reply_due_at is not None and ticket.reply_due_at <= now
    )
    if ticket.resolve_due_at <= now:
        return Due(DueAction.ESCALATE, reply_overdue)
    if ticket.reminded_at is not None:
        return None
    remind = reminder_at(ticket)
    if reply_overdue or (remind is not None and remind <= now):
        return Due(DueAction.REMIND, reply_overdue)
    return None
