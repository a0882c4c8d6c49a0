"""Attachments (photos, videos, voice messages, video notes): how many, how large, and how they
are sent on to the other side."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Sequence
from enum import StrEnum

from domain.models import Attachment, MediaKind

# Attachments of one description, answer, addition or resolution together, as the Xigang phone
# form allows photos.
MAX_ATTACHMENTS = 5
# The Bot API lets a bot fetch files of at most 20 MB (getFile): anything larger the bot could
# pass on but never keep or check, so it is refused.
MAX_FILE_BYTES = 20 * 1024 * 1024
# Telegram records video notes (round videos) of at most one minute.
MAX_VIDEO_NOTE_SECONDS = 60
# Kinds that may share an album (sendMediaGroup); voice messages and video notes go on their own.
ALBUM_KINDS = frozenset({MediaKind.PHOTO, MediaKind.VIDEO})


class Refusal(StrEnum):
    TOO_LARGE = "too_large"
    TOO_LONG = "too_long"


def refusal(kind: MediaKind, size: int | None, duration: int | None) -> Refusal | None:
    """Why an attachment cannot be taken, or None. Telegram does not always say a file's size."""
    if size is not None and size > MAX_FILE_BYTES:
        return Refusal.TOO_LARGE
    if kind is MediaKind.VIDEO_NOTE and duration is not None and duration > MAX_VIDEO_NOTE_SECONDS:
        return Refusal.TOO_LONG
    return None


def sending_parts(attachments: Sequence[Attachment]) -> list[list[Attachment]]:
    """The attachments as they are sent: photos and videos together (an album of two to ten, or
    one alone), then each voice message and video note on its own, in the order they came."""
    album = [a for a in attachments if a.kind in ALBUM_KINDS]
    return ([album] if album else []) + [[a] for a in attachments if a.kind not in ALBUM_KINDS]


def spoken(attachments: Iterable[Attachment]) -> bool:
    """Whether a voice message or a video note is among them: it describes a problem as well as
    words do, so a description may be left empty."""
    return any(a.kind in (MediaKind.VOICE, MediaKind.VIDEO_NOTE) for a in attachments)


def counts(attachments: Iterable[Attachment]) -> dict[str, int]:
    """How many of each kind, in the order of MediaKind (for summaries and history lines)."""
    found = Counter(a.kind for a in attachments)
    return {kind.value: found[kind] for kind in MediaKind if found[kind]}


def to_data(attachments: Iterable[Attachment]) -> list[list[str]]:
    """Attachments as stored in an event's or a notice's JSON data."""
    return [[a.kind.value, a.file_id, a.file_unique_id] for a in attachments]


def from_data(rows: Iterable[Sequence[str]]) -> tuple[Attachment, ...]:
    return tuple(Attachment(file_id, unique_id, MediaKind(kind)) for kind, file_id, unique_id in rows)
