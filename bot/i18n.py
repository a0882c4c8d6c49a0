"""aiogram's I18n, fed straight from the gettext `.po` catalogs (bot/catalogs.py)."""

from __future__ import annotations

import gettext
from collections.abc import Iterator
from contextlib import contextmanager

from aiogram.utils.i18n import I18n

from bot.catalogs import DOMAIN, LOCALES_DIR, activate, load_catalogs
from bot.config import SUPPORTED_LANGUAGES


class CatalogI18n(I18n):
    """Compiles the catalogs in memory at start-up; inside `context()` it is the translator of both
    aiogram's `gettext` (lazy texts) and bot.catalogs' `_`."""

    @contextmanager
    def context(self) -> Iterator[I18n]:
        # aiogram's `gettext` looks up I18n's own context slot; a subclass would get a slot of its own.
        token = I18n.set_current(self)
        try:
            with activate(self):
                yield self
        finally:
            I18n.reset_current(token)

    def find_locales(self) -> dict[str, gettext.GNUTranslations]:
        return load_catalogs(self.path, self.domain)


def create_i18n(default_language: str) -> CatalogI18n:
    return CatalogI18n(path=LOCALES_DIR, default_locale=default_language, domain=DOMAIN)


def pick_language(chosen: str | None, telegram_code: str | None, default: str) -> str:
    """A language picked with /lang wins; then Telegram's (zh-hans, en-US, ...); then the default."""
    if chosen in SUPPORTED_LANGUAGES:
        return chosen
    if telegram_code:
        base = telegram_code.split("-")[0].lower()
        if base in SUPPORTED_LANGUAGES:
            return base
    return default
