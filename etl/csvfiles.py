"""CSV as shops write it: the text encoding, the separator and the decimal mark of a file, found or given.

A catalog exported by Excel on a Spanish Windows is cp1252 text separated by `;` with decimal commas; one
from an ERP is UTF-8 (perhaps with a BOM) separated by `,`. The rules, in order:
- encoding: `--encoding` when given; else a UTF-8 or UTF-16 byte-order mark; else UTF-8 when every byte
  decodes as UTF-8 (plain ASCII included); else cp1252 (Windows' Western code page, Excel's), else
  latin-1 (cp1252 leaves five bytes undefined; latin-1 decodes every byte);
- separator: `--separator` when given; else whichever of `,` `;` tab splits the header into the most
  columns with the first rows agreeing with it;
- decimal comma: `--decimal-comma` / `--decimal-point` when given; else a decimal comma only when it is
  unambiguous: some decimal column holds values like `1234,50`, none holds `1234.50`, and the separator
  is not `,`.
Files that are not UTF-8 are transcoded to a UTF-8 copy (streamed in blocks), which DuckDB then reads
with the dialect given explicitly: the data itself is never walked row by row in Python.
"""

from __future__ import annotations

import codecs
import csv
import io
import uuid
from dataclasses import dataclass
from pathlib import Path

from etl.errors import ConfigError
from etl.i18n import Said

SEPARATORS = {",": ",", ";": ";", "tab": "\t", "\\t": "\t", "\t": "\t"}
SEPARATOR_NAMES = {",": "','", ";": "';'", "\t": "tab"}
BLOCK = 1 << 20  # bytes read at a time when checking or transcoding
SAMPLE_LINES = 50  # rows that must agree with the header for a separator to win
# A number written with a decimal comma (`1234,50`, `-0,5`), and with a decimal point.
COMMA_NUMBER = r"^\s*[+-]?[0-9]*,[0-9]+\s*$"
POINT_NUMBER = r"^\s*[+-]?[0-9]*\.[0-9]+\s*$"


@dataclass(frozen=True)
class CsvFormat:
    """How a CSV file is written; `found` says which of the three were detected rather than given."""

    encoding: str  # a Python codec name: utf-8, utf-8-sig, utf-16, cp1252, latin-1, …
    separator: str  # ',', ';' or '\t'
    decimal_comma: bool = False
    found: tuple[str, ...] = ()

    @property
    def plain(self) -> bool:
        """UTF-8, commas and decimal points: nothing worth telling the user."""
        return self.encoding in ("utf-8", "utf-8-sig") and self.separator == "," and not self.decimal_comma

    def describe(self) -> str:
        """'cp1252 text, separated by ';', with decimal commas'.

        >>> CsvFormat("cp1252", ";", True).describe()
        "cp1252 text, separated by ';', with decimal commas"
        >>> CsvFormat("utf-8-sig", ",").describe()
        "utf-8-sig text, separated by ','"
        """
        comma = ", with decimal commas" if self.decimal_comma else ""
        return f"{self.encoding} text, separated by {SEPARATOR_NAMES[self.separator]}{comma}"


def encoding_option(name: str | None) -> str | None:
    """A codec name as Python knows it (`latin1` → `iso8859-1`), or ConfigError naming the usual ones."""
    if name is None:
        return None
    try:
        return codecs.lookup(name).name
    except LookupError:
        raise ConfigError(Said("--encoding %(name)s: unknown encoding; shops' files are usually utf-8, cp1252 "
                               "(Excel on Windows) or latin-1.", name=name)) from None


def separator_option(name: str | None) -> str | None:
    """`,`, `;` or `tab` (also `\\t`) → the character; anything else is refused."""
    if name is None:
        return None
    if name not in SEPARATORS:
        raise ConfigError(Said("--separator %(name)s: give ',', ';' or 'tab'.", name=repr(name)))
    return SEPARATORS[name]


def _valid(file: Path, encoding: str) -> tuple[int, int] | None:
    """None when the whole file decodes; else (line, byte offset) of the first byte that does not."""
    decoder = codecs.getincrementaldecoder(encoding)()
    offset, lines = 0, 1
    with file.open("rb") as f:
        while block := f.read(BLOCK):
            try:
                decoder.decode(block)
            except UnicodeDecodeError as err:
                return lines + block[:err.start].count(b"\n"), offset + err.start
            offset += len(block)
            lines += block.count(b"\n")
        try:
            decoder.decode(b"", final=True)
        except UnicodeDecodeError:
            return lines, offset
    return None


def detect_encoding(file: Path) -> str:
    r"""The encoding by the rules above.

    >>> import tempfile; folder = Path(tempfile.mkdtemp())
    >>> for name, data in [("a", b"id,name\nP1,plain\n"), ("b", "id;name\nP1;Caña\n".encode()),
    ...                    ("c", b"\xef\xbb\xbfid\nP1\n"), ("d", "id;name\nP1;Caña €\n".encode("cp1252")),
    ...                    ("e", b"id\n\x81\xd1\n")]:
    ...     _ = (folder / name).write_bytes(data)
    ...     print(name, detect_encoding(folder / name))
    a utf-8
    b utf-8
    c utf-8-sig
    d cp1252
    e latin-1
    """
    with file.open("rb") as f:
        head = f.read(4)
    if head.startswith(codecs.BOM_UTF8):
        return "utf-8-sig"
    if head.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        return "utf-16"
    for encoding in ("utf-8", "cp1252"):
        if _valid(file, encoding) is None:
            return encoding
    return "latin-1"


def _sample(file: Path, encoding: str) -> list[str]:
    """The first lines of the file as text (the header first)."""
    with file.open(encoding=encoding, newline="", errors="replace") as f:
        text = f.read(64 * 1024)
    return text.splitlines()[: SAMPLE_LINES + 1]


def detect_separator(lines: list[str]) -> str:
    r"""The separator that splits the header into the most columns, the first rows agreeing.

    >>> detect_separator(["tax_id;name;rate", "IVA19;IVA general;0,19"])
    ';'
    >>> detect_separator(["product_id,name,price", 'P1,"Arepa; grande",3500'])
    ','
    >>> detect_separator(["id\tname", "P1\tx"])
    '\t'
    """
    best, score = ",", (0, 0)
    for separator in (",", ";", "\t"):
        rows = list(csv.reader(io.StringIO("\n".join(lines)), delimiter=separator))
        if not rows or len(rows[0]) < 2:
            continue
        agreeing = sum(len(r) == len(rows[0]) for r in rows[1:] if r)
        if (agreeing, len(rows[0])) > score:
            best, score = separator, (agreeing, len(rows[0]))
    return best


def header(file: Path, fmt: CsvFormat) -> list[str]:
    """The header's column names, as written (the reader is given them, not left to guess)."""
    lines = _sample(file, fmt.encoding)
    names = next(csv.reader(io.StringIO(lines[0] if lines else ""), delimiter=fmt.separator), [])
    if not names or not any(n.strip() for n in names):
        raise ConfigError(Said("%(file)s: the first line is empty; a CSV file needs a header naming its columns.",
                               file=file.name))
    return names


def sniff(file: Path, encoding: str | None = None, separator: str | None = None) -> CsvFormat:
    """The file's encoding and separator: given, or found by the rules above (the decimal mark comes later)."""
    found: list[str] = []
    if encoding is None:
        encoding = detect_encoding(file)
        found.append("encoding")
    elif (bad := _valid(file, encoding)) is not None:
        line, offset = bad
        if encoding.startswith("utf"):
            raise ConfigError(Said("%(file)s: line %(line)s is not valid %(encoding)s (byte %(offset)s); is the "
                                   "file cp1252 (Excel on Windows)? give its encoding with --encoding, or leave it "
                                   "out to detect it.", file=file.name, line=str(line), encoding=encoding,
                                   offset=str(offset)))
        raise ConfigError(Said("%(file)s: line %(line)s is not valid %(encoding)s (byte %(offset)s); is the file "
                               "UTF-8? give its encoding with --encoding, or leave it out to detect it.",
                               file=file.name, line=str(line), encoding=encoding, offset=str(offset)))
    if separator is None:
        separator = detect_separator(_sample(file, encoding))
        found.append("separator")
    return CsvFormat(encoding, separator, False, tuple(found))


def as_utf8(file: Path, fmt: CsvFormat, folder: Path) -> Path:
    """The file itself when DuckDB can read it as it is (UTF-8), else a UTF-8 copy written into folder."""
    if fmt.encoding in ("utf-8", "utf-8-sig"):
        return file
    folder.mkdir(parents=True, exist_ok=True)
    copy = folder / f"{uuid.uuid4().hex}.csv"
    with file.open(encoding=fmt.encoding, newline="") as src, copy.open("w", encoding="utf-8", newline="") as dst:
        while block := src.read(BLOCK):
            dst.write(block)
    return copy
