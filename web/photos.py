"""The board's photos: Telegram keeps them, known by file_id, and only a bot with its token can fetch
them (getFile, then the file). Each is fetched once and kept on disk; without a token the board shows
no photos."""

from __future__ import annotations

import asyncio
import hashlib
import logging
import os
import re
from pathlib import Path

from aiohttp import ClientError, ClientSession, ClientTimeout, web

from domain.media import MAX_FILE_BYTES
from domain.models import Attachment

log = logging.getLogger(__name__)
DEFAULT_API = "https://api.telegram.org"
SAFE_NAME = re.compile(r"[A-Za-z0-9_-]{1,64}")


class TelegramFiles:
    def __init__(self, token: str, api_url: str | None, folder: Path):
        self._token = token
        self._api = (api_url or DEFAULT_API).rstrip("/")
        self.folder = folder
        self._session: ClientSession | None = None
        self._fetching: dict[str, asyncio.Lock] = {}

    def path(self, attachment: Attachment) -> Path:
        """Where the file is kept: by its unique id (the same file under every file_id)."""
        name = attachment.file_unique_id
        if not SAFE_NAME.fullmatch(name):
            name = hashlib.sha256(attachment.file_id.encode()).hexdigest()
        return self.folder / f"{name}.jpg"

    async def read(self, attachment: Attachment) -> bytes | None:
        """The file's bytes, from disk or from Telegram; None when Telegram does not give it."""
        path = self.path(attachment)
        lock = self._fetching.setdefault(path.name, asyncio.Lock())
        async with lock:  # one fetch per file, however many visitors ask at once
            if not path.is_file():
                data = await self._fetch(attachment.file_id)
                if data is None:
                    return None
                self.folder.mkdir(parents=True, exist_ok=True)
                partial = path.with_suffix(f".{os.getpid()}.part")
                partial.write_bytes(data)
                partial.replace(path)  # never a half-written file under the real name
        self._fetching.pop(path.name, None)
        return path.read_bytes()

    async def _fetch(self, file_id: str) -> bytes | None:
        if self._session is None:
            self._session = ClientSession(timeout=ClientTimeout(total=60))
        try:
            async with self._session.get(f"{self._api}/bot{self._token}/getFile", params={"file_id": file_id}) as got:
                answer = await got.json(content_type=None)
            if not answer.get("ok") or not answer.get("result", {}).get("file_path"):
                log.info("a board photo is not available from Telegram")
                return None
            file_path = answer["result"]["file_path"]
            async with self._session.get(f"{self._api}/file/bot{self._token}/{file_path}") as got:
                if got.status != 200:
                    return None
                data = await got.content.read(MAX_FILE_BYTES + 1)
                return data if len(data) <= MAX_FILE_BYTES else None
        except (ClientError, asyncio.TimeoutError, ValueError) as error:
            # The URL holds the token: only the error's type is logged.
            log.warning("fetching a board photo failed: %s", type(error).__name__)
            return None

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()


async def photo_response(files: TelegramFiles, attachment: Attachment, cache_control: str) -> web.Response:
    """The photo as an answer to a browser, or 404 when Telegram does not give it."""
    data = await files.read(attachment)
    if data is None:
        raise web.HTTPNotFound()
    return web.Response(body=data, content_type="image/jpeg",
                        headers={"Cache-Control": cache_control, "X-Content-Type-Options": "nosniff"})
