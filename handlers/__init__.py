"""The bot's routers, in the order they are tried."""

from __future__ import annotations

from aiogram import Router

from handlers import (
    codes, common, digest, fallback, followup, moderation, resident, shops, sites, staff, start, stats, supervision, tickets,
)


def get_routers() -> list[Router]:
    """Fresh routers each call: a router joins one dispatcher only, and tests build many."""
    return [
        common.build_router(),  # /cancel, /lang, /help: in every state
        start.build_router(),  # /start and deep links: a new /start resets a form on purpose
        tickets.build_router(),  # /t, the staff card and internal notes: access checked per ticket
        staff.build_router(),  # staff only (router-level filter)
        supervision.build_router(),  # returns and merges (staff), /overdue and urging (town, officials)
        moderation.build_router(),  # the public board: /moderate and the review (town, village staff)
        followup.build_router(),  # call-backs (before the resident's form: its step) and return visits
        codes.build_router(),  # /qr for staff, /posters for admins
        stats.build_router(),  # /stats for officials and admins
        digest.build_router(),  # /digest: officials choose their digests
        resident.build_router(),
        shops.build_router(),  # shop codes: rating, /myshop, /shopqr
        sites.build_router(),  # supervision codes: inspection records, /siteqr
        fallback.build_router(),  # must stay last
    ]
