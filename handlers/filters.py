"""Role filters, used on whole routers so handlers do not repeat the check."""

from __future__ import annotations

from aiogram.filters import Filter
from aiogram.types import TelegramObject

from domain.models import Role, RoleGrant
from domain.tickets import has_role, is_staff


class IsStaff(Filter):
    """Grid workers, village, town and department staff, and admins."""

    async def __call__(self, event: TelegramObject, grants: list[RoleGrant] | None = None) -> bool:
        return is_staff(grants or [])


class HasRole(Filter):
    def __init__(self, *roles: Role):
        self.roles = roles

    async def __call__(self, event: TelegramObject, grants: list[RoleGrant] | None = None) -> bool:
        return has_role(grants or [], *self.roles)
