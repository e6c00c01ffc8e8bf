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


HEADER = ["period", "org_code", "org_name", "attendances", "breaches"]


def xlsx_zip_bomb(path: Path) -> Path:
    return zip_bomb_xlsx(path, inflated_mb=400)


def xlsx_duplicate_header(path: Path) -> Path:
    return small_workbook(
        path, [["period", "org_code", "breaches", "attendances", "breaches"], ["2020-01-01", "A", 1, 2, 3]]
    )


def xlsx_decimal_comma_text(path: Path) -> Path:
    return small_workbook(
        path, [HEADER, ["2020-01-01", "AAA", "Alpha", 1000, 100], ["2020-01-01", "BBB", "Beta", 1000, "10,5"]]
    )


def _parquet(path: Path, breaches: list[float], rows: int | None = None) -> Path:
    import polars as pl

    n = len(breaches)
    pl.DataFrame(
        {
            "period": ["2020-01-01"] * n,
            "org_code": [f"O{i:03d}" for i in range(n)],
            "org_name": ["Name"] * n,
            "attendances": [1000.0] * n,
            "breaches": breaches,
        }
    ).write_parquet(path)
    return path


def parquet_nan(path: Path) -> Path:
    return _parquet(path, [1.0, float("nan"), float("inf")])


def parquet_truncated(path: Path) -> Path:
    _parquet(path, [1.0] * 100)
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    return path


def parquet_too_many_rows(path: Path) -> Path:
    return _parquet(path, [1.0] * 12)


def csv_huge_line(path: Path) -> Path:
    with path.open("wb") as out:
        out.write(",".join(HEADER).encode() + b"\n2020-01-01,AAA,")
        out.write(b"x" * (2 * MIB))
        out.write(b",1000,100\n")
    return path


GENERATORS = {
    "xlsx_zip_bomb": xlsx_zip_bomb,
    "xlsx_duplicate_header": xlsx_duplicate_header,
    "xlsx_decimal_comma_text": xlsx_decimal_comma_text,
    "parquet_nan": parquet_nan,
    "parquet_truncated": parquet_truncated,
    "parquet_too_many_rows": parquet_too_many_rows,
    "csv_huge_line": csv_huge_line,
}
"""Hostile files made by a function (binary, or too big to keep): name -> writer of a file at a path."""
