"""aiogram's I18n, fed straight from the gettext `.po` catalogs so a fresh clone needs no build step."""

from __future__ import annotations

import gettext
from collections.abc import Iterator
from contextlib import contextmanager
from io import BytesIO
from pathlib import Path

from aiogram.utils.i18n import I18n
from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po

from bot.config import SUPPORTED_LANGUAGES

LOCALES_DIR = Path(__file__).parent / "locales"


class CatalogI18n(I18n):
    """Compiles each `<lang>/LC_MESSAGES/messages.po` in memory at start-up (fuzzy entries skipped)."""

    @contextmanager
    def context(self) -> Iterator[I18n]:
        # aiogram's `gettext` looks up I18n's own context slot; a subclass would get a slot of its own.
        token = I18n.set_current(self)
        try:
            yield self
        finally:
            I18n.reset_current(token)

    def find_locales(self) -> dict[str, gettext.GNUTranslations]:
        translations: dict[str, gettext.GNUTranslations] = {}
        for po_path in sorted(self.path.glob(f"*/LC_MESSAGES/{self.domain}.po")):
            language = po_path.parent.parent.name
            with po_path.open("rb") as po_file:
                catalog = read_po(po_file, locale=language)
            compiled = BytesIO()
            write_mo(compiled, catalog)
            compiled.seek(0)
            translations[language] = gettext.GNUTranslations(compiled)
        return translations


def create_i18n(default_language: str) -> CatalogI18n:
    return CatalogI18n(path=LOCALES_DIR, default_locale=default_language, domain="messages")


def pick_language(chosen: str | None, telegram_code: str | None, default: str) -> str:
    """A language picked with /lang wins; then Telegram's (zh-hans, en-US, ...); then the default."""
    if chosen in SUPPORTED_LANGUAGES:
        return chosen
    if telegram_code:
        base = telegram_code.split("-")[0].lower()
        if base in SUPPORTED_LANGUAGES:
            return base
    return default
