"""The gettext catalogs and `_`, without aiogram: terminal commands such as `gridbot stats` start in
a fraction of a second, and aiogram (three seconds to import) loads only for the commands that
talk to Telegram. The bot's aiogram I18n (bot/i18n.py) reads the same catalogs through here and
makes itself the active translator, so one `_` serves the handlers, the bot's texts and the CLI."""

from __future__ import annotations

import gettext as gnu_gettext
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from io import BytesIO
from pathlib import Path
from typing import Protocol

from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po

LOCALES_DIR = Path(__file__).parent / "locales"
DOMAIN = "messages"


class Translator(Protocol):
    def gettext(self, singular: str, plural: str | None = None, n: int = 1, locale: str | None = None) -> str: ...


_active: ContextVar[Translator] = ContextVar("gridbot_translator")


def load_catalogs(
    path: Path = LOCALES_DIR, domain: str = DOMAIN, languages: Iterable[str] | None = None
) -> dict[str, gnu_gettext.GNUTranslations]:
    """Compiles each `<lang>/LC_MESSAGES/<domain>.po` in memory (fuzzy entries skipped), so a fresh
    clone needs no build step."""
    wanted = set(languages) if languages is not None else None
    translations: dict[str, gnu_gettext.GNUTranslations] = {}
    for po_path in sorted(path.glob(f"*/LC_MESSAGES/{domain}.po")):
        language = po_path.parent.parent.name
        if wanted is not None and language not in wanted:
            continue
        with po_path.open("rb") as po_file:
            catalog = read_po(po_file, locale=language)
        compiled = BytesIO()
        write_mo(compiled, catalog)
        compiled.seek(0)
        translations[language] = gnu_gettext.GNUTranslations(compiled)
    return translations


@contextmanager
def activate(translator: Translator) -> Iterator[Translator]:
    token = _active.set(translator)
    try:
        yield translator
    finally:
        _active.reset(token)


def gettext(singular: str, plural: str | None = None, n: int = 1, locale: str | None = None) -> str:
    """The active translator's text. Outside any (settings read by a library user or a test) the
    message id itself, which is the English text."""
    translator = _active.get(None)
    if translator is None:
        return singular if plural is None or n == 1 else plural
    return translator.gettext(singular, plural, n, locale)


class Catalogs:
    """One language's catalog, for the terminal: `with Catalogs("zh").context(): print(_(...))`."""

    def __init__(self, language: str):
        self.language = language
        self.translations = load_catalogs(languages=(language,)).get(language, gnu_gettext.NullTranslations())

    def gettext(self, singular: str, plural: str | None = None, n: int = 1, locale: str | None = None) -> str:
        if plural is None:
            return self.translations.gettext(singular)
        return self.translations.ngettext(singular, plural, n)

    def context(self):
        return activate(self)
