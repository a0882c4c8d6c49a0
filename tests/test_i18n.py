"""Every text the code can show has a Chinese and an English translation, with the same placeholders."""

from __future__ import annotations

import re
import string
from pathlib import Path

import pytest
from babel.messages.extract import extract_from_dir
from babel.messages.pofile import read_po

from bot.i18n import LOCALES_DIR, create_i18n, pick_language

ROOT = Path(__file__).resolve().parent.parent
CODE_DIRS = ("bot", "handlers", "domain", "qr")


def message_ids_in_code() -> set[str]:
    found = set()
    for folder in CODE_DIRS:
        for _file, _line, message, _comments, _context in extract_from_dir(
            ROOT / folder, method_map=[("**.py", "python")], keywords={"_": None, "__": None}
        ):
            found.add(message if isinstance(message, str) else message[0])
    return found


def catalog(language: str):
    with (LOCALES_DIR / language / "LC_MESSAGES" / "messages.po").open("rb") as f:
        return read_po(f, locale=language)


def placeholders(text: str) -> set[str]:
    return {name for _lit, name, _spec, _conv in string.Formatter().parse(text) if name is not None}


@pytest.mark.parametrize("language", ["zh", "en"])
def test_every_message_id_is_translated(language):
    entries = {m.id: m for m in catalog(language) if m.id}
    missing = sorted(mid for mid in message_ids_in_code() if mid not in entries or not entries[mid].string)
    assert not missing, f"{language}: untranslated (run scripts/update_catalogs.py, then translate): {missing}"
    fuzzy = sorted(mid for mid, m in entries.items() if m.fuzzy)
    assert not fuzzy, f"{language}: fuzzy entries: {fuzzy}"


@pytest.mark.parametrize("language", ["zh", "en"])
def test_translations_keep_placeholders_and_tags(language):
    for message in catalog(language):
        if not message.id or not message.string:
            continue
        assert placeholders(message.string) == placeholders(message.id), message.id
        assert re.findall(r"</?\w+>", message.string) == re.findall(r"</?\w+>", message.id), message.id


def test_chinese_is_the_default_and_differs_from_english():
    i18n = create_i18n("zh")
    assert i18n.gettext("✅ Done", locale="zh") != "✅ Done"
    assert i18n.gettext("✅ Done", locale="en") == "✅ Done"
    assert set(i18n.available_locales) == {"zh", "en"}


@pytest.mark.parametrize(
    ("chosen", "telegram", "expected"),
    [("en", "zh-hans", "en"), (None, "zh-hans", "zh"), (None, "en-US", "en"), (None, "de", "zh"), (None, None, "zh")],
)
def test_language_choice(chosen, telegram, expected):
    assert pick_language(chosen, telegram, "zh") == expected
