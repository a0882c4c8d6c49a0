"""Re-extract message ids from the code and merge them into the zh and en catalogs.

Run after changing any user-facing text:  python scripts/update_catalogs.py
English message ids are the English texts, so the en catalog is filled with them; new zh entries
are left empty (or fuzzy), and tests/test_i18n.py fails until they are translated.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from babel.messages.pofile import read_po, write_po

ROOT = Path(__file__).resolve().parent.parent
LOCALES = ROOT / "bot" / "locales"
TEMPLATE = LOCALES / "messages.pot"


def main() -> None:
    babel = [sys.executable, "-m", "babel.messages.frontend"]
    subprocess.run(
        [*babel, "extract", "-F", "babel.cfg", "-k", "_", "-k", "__", "-k", "N_", "--no-location",
         "--omit-header", "--sort-output", "-o", str(TEMPLATE), "."],
        cwd=ROOT, check=True,
    )
    subprocess.run(
        [*babel, "update", "-i", str(TEMPLATE), "-d", str(LOCALES), "--no-fuzzy-matching",
         "--omit-header", "--ignore-obsolete"],
        cwd=ROOT, check=True,
    )
    en_path = LOCALES / "en" / "LC_MESSAGES" / "messages.po"
    with en_path.open("rb") as f:
        catalog = read_po(f, locale="en")
    for message in catalog:
        if message.id and not message.string:
            message.string = message.id
    with en_path.open("wb") as f:
        write_po(f, catalog, omit_header=True, sort_output=True)


if __name__ == "__main__":
    main()
