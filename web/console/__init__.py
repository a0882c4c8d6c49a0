"""The console: a Telegram Mini App for staff and officials, pages under /app/ and their JSON API
under /app/api/ (sign-in: web/console/auth.py; tickets: web/console/tickets.py)."""

from __future__ import annotations

from aiohttp import web

from web.console.auth import add_console_auth
from web.console.figures import add_console_figures
from web.console.pages import add_console_pages
from web.console.tickets import add_ticket_api


def add_console(app: web.Application) -> None:
    add_console_auth(app)
    add_ticket_api(app)
    add_console_figures(app)
    add_console_pages(app)
