"""Helpers that write hostile files too big or too binary to keep in ``tests/fixtures/bad/``."""

from __future__ import annotations

import zipfile
from pathlib import Path

MIB = 1024 * 1024


def small_workbook(path: Path, rows: list[list[object]]) -> Path:
    """An xlsx holding ``rows`` (the first is the header) on its first sheet."""
    import xlsxwriter

    workbook = xlsxwriter.Workbook(str(path))
    sheet = workbook.add_worksheet()
    for r, row in enumerate(rows):
        for c, value in enumerate(row):
            sheet.write(r, c, value)
    workbook.close()
    return path


def zip_bomb_xlsx(path: Path, inflated_mb: int = 400) -> Path:
    """A valid-looking xlsx of about ``inflated_mb / 1000`` MB whose first sheet inflates to ``inflated_mb``
    (XML whitespace, which deflate compresses about a thousand to one)."""
    plain = small_workbook(path.with_suffix(".plain.xlsx"), [["period", "org_code"], ["2020-01-01", "AAA"]])
    with (
        zipfile.ZipFile(plain) as source,
        zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED, compresslevel=1) as target,
    ):
        for member in source.infolist():
            data = source.read(member.filename)
            if member.filename != "xl/worksheets/sheet1.xml":
                target.writestr(member, data)
                continue
            head, _, tail = data.partition(b"?>")
            with target.open(member.filename, "w", force_zip64=True) as out:
                out.write(head + b"?>")
                block = b" " * MIB
                for _ in range(inflated_mb - 1):
                    out.write(block)
                out.write(b" " * (MIB - len(head) - 2 - len(tail)) + tail)
    plain.unlink()
    return path
