"""Regenerate docs/board-report.png (and docs/board-report-charts.png) from the demo's data: the PDF board report
as `forewarn report org` writes it, its pages drawn by Chromium's PDF viewer.

1. Builds the demo's store in a scratch folder (``forewarn demo --no-serve``; kept and reused with --store), never
   the repository's.
2. Opens a case on the trust (default RRK: a development case on its A&E 4-hour performance, the intervention from
   June 2018 withdrawn in January 2019) with an exit criterion, unless it already has one.
3. Writes the board report's PDF (``forewarn report org ORG --pdf FILE``) and rasterises its first page and the
   page with its first chart (SPC chart and funnel history, the intervention shaded) in Chromium (/usr/bin/chromium,
   through Playwright, the browser tests' dependencies), trimmed of the viewer's grey margin with Pillow.

Run: PYTHONPATH=src .venv/bin/python scripts/board_report_image.py [--store /tmp/forewarn-board-image] [--org RRK]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

from PIL import Image, ImageChops
from playwright.sync_api import sync_playwright

FOREWARN = Path(sys.executable).with_name("forewarn")
CHROMIUM = Path("/usr/bin/chromium")
DOCS = Path(__file__).resolve().parent.parent / "docs"
A4_WIDTH, A4_HEIGHT = 900, 1273  # CSS pixels of the page drawn in the viewer at this width


def forewarn(args: list[str], env: dict[str, str]) -> str:
    done = subprocess.run([str(FOREWARN), *args], env=env, check=True, capture_output=True, text=True)
    return done.stdout


def open_case(code: str, env: dict[str, str]) -> None:
    """A development case on the trust's 4-hour performance, its intervention started and withdrawn."""
    if any(c["organisation_code"] == code for c in json.loads(forewarn(["case", "list", "--json"], env))):
        return
    opened = json.loads(
        forewarn(
            [
                "case",
                "open",
                code,
                "--support",
                "development",
                "--owner",
                "Demo analyst",
                "--concern",
                "A&E 4-hour performance below its lower limit since summer 2018",
                "--json",
            ],
            env,
        )
    )
    case_id = str(opened["result"])
    forewarn(["case", "exit", case_id, "ae_4h_all", "--at-least", "0.8", "--months", "3"], env)
    forewarn(["case", "intervene", case_id, "--start", "2018-06-01", "--indicator", "ae_4h_all"], env)
    forewarn(["case", "withdraw", case_id, "--end", "2019-01-01"], env)


def page_images(pdf: Path, pages: list[int]) -> list[Image.Image]:
    """Each page as Chromium's PDF viewer draws it, without its toolbar, trimmed to the page."""
    images = []
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=["--no-sandbox"])
        try:
            for number in pages:
                page = browser.new_page(
                    viewport={"width": A4_WIDTH, "height": A4_HEIGHT}, device_scale_factor=1
                )
                page.goto(f"{pdf.resolve().as_uri()}#page={number}&toolbar=0&navpanes=0&view=FitH")
                page.wait_for_timeout(3000)  # the viewer draws the page after the load event
                shot = Path(tempfile.mkstemp(suffix=".png")[1])
                page.screenshot(path=str(shot))
                images.append(_trimmed(Image.open(shot).convert("RGB")))
                shot.unlink()
                page.close()
        finally:
            browser.close()
    return images


def _trimmed(image: Image.Image) -> Image.Image:
    """The white page without the viewer's grey around it."""
    white = Image.new("RGB", image.size, (255, 255, 255))
    mask = ImageChops.difference(image, white).convert("L").point(lambda v: 255 if v < 8 else 0)
    box = mask.getbbox()
    return image.crop(box) if box else image


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--store", type=Path, default=Path(tempfile.gettempdir()) / "forewarn-board-image")
    parser.add_argument("--org", default="RRK")
    parser.add_argument("--chart-page", type=int, default=2, help="The page of the first chart.")
    args = parser.parse_args()
    args.store.mkdir(parents=True, exist_ok=True)
    env = {
        **os.environ,
        "FOREWARN_DATABASE_URL": f"sqlite:///{args.store / 'store.db'}",
        "FOREWARN_DATA_DIR": str(args.store / "var"),
    }
    if not (args.store / "demo.done").exists():
        forewarn(["demo", "--no-serve"], env)
        (args.store / "demo.done").write_text("forewarn demo --no-serve\n")
    open_case(args.org, env)
    pdf = args.store / f"board-{args.org}.pdf"
    forewarn(["report", "org", args.org, "--pdf", str(pdf)], env)
    first, charts = page_images(pdf, [1, args.chart_page])
    first.save(DOCS / "board-report.png", optimize=True)
    charts.save(DOCS / "board-report-charts.png", optimize=True)
    print(f"{pdf} -> {DOCS / 'board-report.png'}, {DOCS / 'board-report-charts.png'}")


if __name__ == "__main__":
    main()
