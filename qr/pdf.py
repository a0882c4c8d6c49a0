"""A minimal PDF writer that writes each page as it comes.

Pillow's PDF writer takes every page up front (`append_images` is read into a list before the
first page is written), so 1,000 posters would sit in memory at once. This writer keeps only the
page at hand, plus the few bytes a page that the cross-reference table needs at the end.
"""

from __future__ import annotations

import hashlib
import zlib
from collections import OrderedDict
from collections.abc import Mapping
from typing import BinaryIO

from PIL import Image

# Object numbers fixed up front; the page tree is written last, once every page is known.
_CATALOG = 1
_PAGES = 2
# Deflate level 6: a quarter smaller than level 1 on these pages, for well under 1 ms a page.
_COMPRESSION_LEVEL = 6
# Ink masks remembered for reuse; posters repeat a handful of lines on every page.
_REMEMBERED_MASKS = 256


class PdfWriter:
    """Write a PDF to the binary file `out`, page by page.

    Use as a context manager: `add_ink_mask` and `add_page` for each page, and the PDF is
    finished on leaving the block (not if the block raises: a half-written PDF is useless).
    """

    def __init__(self, out: BinaryIO):
        self._out = out
        self._written = 0
        self._offsets: dict[int, int] = {}
        self._next_number = _PAGES + 1
        self._page_numbers: list[int] = []
        self._masks_by_digest: OrderedDict[bytes, int] = OrderedDict()
        self._write(b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n")  # binary comment: marks the file as binary

    def __enter__(self) -> PdfWriter:
        return self

    def __exit__(self, exc_type: object, exc: object, traceback: object) -> None:
        if exc_type is None:
            self._finish()

    def add_ink_mask(self, ink: Image.Image) -> int:
        """Add a "1"-mode image that paints black where it is 1; return its object number.

        A mask with the same pixels as a recent one is not written again.
        """
        if ink.mode != "1":
            raise ValueError(f"ink masks must be '1'-mode images, not {ink.mode!r}")
        # Pillow packs "1" images 8 pixels a byte, rows padded to a byte: as PDF wants them.
        pixels = ink.tobytes()
        digest = hashlib.blake2b(b"%d:%s" % (ink.width, pixels), digest_size=16).digest()
        if digest in self._masks_by_digest:
            self._masks_by_digest.move_to_end(digest)
            return self._masks_by_digest[digest]
        compressed = zlib.compress(pixels, _COMPRESSION_LEVEL)
        # Decode [1 0]: a 1 bit paints (the default would paint the 0 bits).
        number = self._write_object(
            b"<< /Type /XObject /Subtype /Image /Width %d /Height %d /ImageMask true"
            b" /Decode [1 0] /Filter /FlateDecode /Length %d >>"
            % (ink.width, ink.height, len(compressed)),
            stream=compressed,
        )
        self._masks_by_digest[digest] = number
        if len(self._masks_by_digest) > _REMEMBERED_MASKS:
            self._masks_by_digest.popitem(last=False)
        return number

    def add_page(
        self, width_pt: float, height_pt: float, content: bytes, xobjects: Mapping[str, int]
    ) -> None:
        """Add a page drawn by the content stream `content`, which may use the images in
        `xobjects` (name → object number from `add_ink_mask`) with `/name Do`."""
        compressed = zlib.compress(content, _COMPRESSION_LEVEL)
        contents = self._write_object(
            b"<< /Filter /FlateDecode /Length %d >>" % len(compressed), stream=compressed
        )
        resources = b" ".join(
            b"/%s %d 0 R" % (name.encode("ascii"), number) for name, number in xobjects.items()
        )
        self._page_numbers.append(
            self._write_object(
                b"<< /Type /Page /Parent %d 0 R /MediaBox [0 0 %.2f %.2f] /Contents %d 0 R"
                b" /Resources << /XObject << %s >> >> >>"
                % (_PAGES, width_pt, height_pt, contents, resources)
            )
        )

    def _finish(self) -> None:
        kids = b" ".join(b"%d 0 R" % number for number in self._page_numbers)
        self._write_object(
            b"<< /Type /Pages /Kids [%s] /Count %d >>" % (kids, len(self._page_numbers)),
            number=_PAGES,
        )
        self._write_object(b"<< /Type /Catalog /Pages %d 0 R >>" % _PAGES, number=_CATALOG)
        xref_offset = self._written
        count = self._next_number
        # Each cross-reference entry is exactly 20 bytes, end of line included.
        entries = [b"0000000000 65535 f \n"]
        entries += [b"%010d 00000 n \n" % self._offsets[number] for number in range(1, count)]
        self._write(b"xref\n0 %d\n%s" % (count, b"".join(entries)))
        self._write(
            b"trailer\n<< /Size %d /Root %d 0 R >>\nstartxref\n%d\n%%%%EOF\n"
            % (count, _CATALOG, xref_offset)
        )

    def _write_object(
        self, dictionary: bytes, stream: bytes | None = None, number: int | None = None
    ) -> int:
        if number is None:
            number = self._next_number
            self._next_number += 1
        self._offsets[number] = self._written
        self._write(b"%d 0 obj\n%s\n" % (number, dictionary))
        if stream is not None:
            self._write(b"stream\n%s\nendstream\n" % stream)
        self._write(b"endobj\n")
        return number

    def _write(self, data: bytes) -> None:
        self._out.write(data)
        self._written += len(data)
