"""Catalog uploads: streamed straight into the store's working folder, or refused before a byte is written.

The multipart body is parsed as it arrives (python-multipart's push parser), so the file never
passes through a temporary file elsewhere. The CSRF field must come before the file (browsers send
fields in page order); the file's name must be a plain name (no folder, no NUL, no leading dot) with
a catalog extension; the file lands under `<data_dir>/uploads/<id>/` (etl.paths.confined) and its
size is capped as it is written.
"""

from __future__ import annotations

import contextlib
import re
import shutil
import uuid
from dataclasses import dataclass, field
from email.message import Message
from pathlib import Path
from typing import IO, TYPE_CHECKING

from python_multipart.exceptions import MultipartParseError
from python_multipart.multipart import MultipartParser, parse_options_header
from starlette.requests import Request

from etl import paths
from etl.console.config import size_text
from etl.console.i18n import _
from etl.console.security import csrf_ok, stale
from etl.errors import ConfigError

if TYPE_CHECKING:
    from python_multipart.multipart import MultipartCallbacks

EXTENSIONS = (".csv", ".parquet", ".pq")
NAME_RE = re.compile(r"[^\x00-\x1f\x7f/\\:]{1,120}")
FIELD_LIMIT = 4096


class UploadRefused(ConfigError):
    """A bad upload: one sentence for the page (HTTP 400, or 403 without the CSRF token, 413 too large)."""

    def __init__(self, message: str, status: int = 400) -> None:
        super().__init__(message)
        self.status = status


def safe_name(name: str) -> str:
    """The uploaded file's own name, if it is a plain catalog file name; else UploadRefused.

    >>> safe_name("products.csv")
    'products.csv'
    >>> safe_name("../../x.csv")  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    etl.console.uploads.UploadRefused: upload name '../../x.csv' is not allowed: give a plain file name such as ...
    """
    plain = NAME_RE.fullmatch(name) and not name.startswith(".") and name.strip() == name
    if not plain:
        raise UploadRefused(_("upload name %(name)r is not allowed: give a plain file name such as products.csv, "
                              "with no folder.", name=name))
    if not name.lower().endswith(EXTENSIONS):
        raise UploadRefused(_("%(name)s: unknown format; give a .csv or .parquet file.", name=name))
    return name


@dataclass
class Upload:
    """The fields of the form, and the file written under the working folder."""

    fields: dict[str, str] = field(default_factory=dict)
    file: Path | None = None
    folder: Path | None = None

    def discard(self) -> None:
        if self.folder is not None:
            shutil.rmtree(self.folder, ignore_errors=True)


class _Receiver:
    """python-multipart callbacks: headers of each part, then its data into a field or the file."""

    def __init__(self, request: Request, data_dir: Path, limit: int) -> None:
        self.request, self.data_dir, self.limit = request, data_dir, limit
        self.upload = Upload()
        self.header_name, self.header_value = b"", b""
        self.headers: dict[str, str] = {}
        self.name: str | None = None
        self.value = bytearray()
        self.out: IO[bytes] | None = None
        self.size = 0

    def on_part_begin(self) -> None:
        self.headers, self.name, self.value, self.out = {}, None, bytearray(), None

    def on_header_field(self, data: bytes, start: int, end: int) -> None:
        self.header_name += data[start:end]

    def on_header_value(self, data: bytes, start: int, end: int) -> None:
        self.header_value += data[start:end]

    def on_header_end(self) -> None:
        self.headers[self.header_name.decode("latin-1").lower()] = self.header_value.decode("utf-8", "replace")
        self.header_name, self.header_value = b"", b""

    def on_headers_finished(self) -> None:
        disposition = Message()
        disposition["content-disposition"] = self.headers.get("content-disposition", "")
        name = disposition.get_param("name", header="content-disposition")
        self.name = name if isinstance(name, str) else None  # a plain name="…"; RFC 2231 forms are no field of ours
        filename = disposition.get_filename()
        if not filename:  # no file chosen: browsers send an empty part
            return
        if not csrf_ok(self.request, self.upload.fields.get("csrf")):
            raise UploadRefused(stale(), 403)
        if self.upload.file is not None:
            raise UploadRefused(_("send one file at a time."))
        name = safe_name(filename)
        folder = paths.confined(self.data_dir, "uploads", uuid.uuid4().hex[:12])
        folder.mkdir(parents=True)
        self.upload.folder = folder
        self.upload.file = paths.confined(folder, name)
        self.out = self.upload.file.open("xb")

    def on_part_data(self, data: bytes, start: int, end: int) -> None:
        chunk = data[start:end]
        if self.out is not None:
            self.size += len(chunk)
            if self.size > self.limit:
                raise UploadRefused(_("the upload is larger than %(size)s; nothing was saved.",
                                      size=size_text(self.limit)), 413)
            self.out.write(chunk)
        elif len(self.value) + len(chunk) > FIELD_LIMIT:
            raise UploadRefused(_("a form field is too long."))
        else:
            self.value += chunk

    def abort(self) -> None:
        if self.out is not None:
            with contextlib.suppress(OSError):
                self.out.close()
        self.upload.discard()

    def on_part_end(self) -> None:
        if self.out is not None:
            self.out.close()
            self.out = None
        elif self.name:
            self.upload.fields[self.name] = self.value.decode("utf-8", "replace")


async def receive(request: Request, data_dir: Path, limit: int) -> Upload:
    """Parse a multipart form with one catalog file into data_dir/uploads; the caller discards it when done."""
    kind, options = parse_options_header(request.headers.get("content-type", ""))
    if kind != b"multipart/form-data" or b"boundary" not in options:
        form = await request.form(max_files=0, max_fields=50)  # only to tell a forged post from a wrong one
        token = form.get("csrf")
        if not csrf_ok(request, token if isinstance(token, str) else None):
            raise UploadRefused(stale(), 403)
        raise UploadRefused(_("send the catalog as a form upload (multipart/form-data)."))
    receiver = _Receiver(request, data_dir, limit)
    callbacks: MultipartCallbacks = {
        "on_part_begin": receiver.on_part_begin, "on_header_field": receiver.on_header_field,
        "on_header_value": receiver.on_header_value, "on_header_end": receiver.on_header_end,
        "on_headers_finished": receiver.on_headers_finished, "on_part_data": receiver.on_part_data,
        "on_part_end": receiver.on_part_end}
    parser = MultipartParser(options[b"boundary"], callbacks)
    try:
        async for chunk in request.stream():
            parser.write(chunk)
        parser.finalize()
    except BaseException as err:
        receiver.abort()
        if isinstance(err, MultipartParseError):
            raise UploadRefused(_("the upload could not be read as a form; try again.")) from None
        raise
    if not csrf_ok(request, receiver.upload.fields.get("csrf")):
        receiver.upload.discard()
        raise UploadRefused(stale(), 403)
    if receiver.upload.file is None:
        raise UploadRefused(_("choose a CSV or Parquet file to upload."))
    return receiver.upload
