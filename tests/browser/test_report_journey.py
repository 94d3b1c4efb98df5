"""A coordinator (Kommunales Integrationszentrum) in Chromium: creates the quarter's
monitoring report for the municipality, sees its chart and tables, and downloads
the XLSX, which opens with one sheet per table and German headers.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from openpyxl import load_workbook
from playwright.sync_api import Page, expect

from lotse.api.demo import seed
from tests.builders.browser import (
    Served,
    check_accessibility,
    screenshot,
    sign_in_as_demo,
)

QUARTER = "2021-Q2"


@pytest.fixture(scope="module")
def journeys(lotse: Served) -> int:
    """Demo journeys across the providers (2020 to 2023), caught up in the read models."""
    return seed(lotse.runtime.journeys, 80)


def test_a_coordinator_downloads_the_quarters_report_as_xlsx(
    page: Page, journeys: int, tmp_path: Path
) -> None:
    sign_in_as_demo(page, "coordinator")
    page.get_by_role("navigation").get_by_role("link", name="Berichte").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Berichte")
    check_accessibility(page, "reports")

    page.get_by_label("Bericht", exact=True).select_option(index=0)
    page.get_by_label("Zeitraum").fill(QUARTER)
    page.get_by_label("Kommune").select_option(label="Kreis Warendorf")
    page.get_by_role("button", name="Bericht erstellen").click()
    page.wait_for_url(re.compile(r"/berichte/laeufe/"))
    expect(page.get_by_role("img").first).to_have_attribute("alt", re.compile(r"\w"))
    assert page.get_by_role("table").count() >= 1
    check_accessibility(page, "report")
    screenshot(page, "report", full_page=False)  # its tables run long

    with page.expect_download() as download:
        page.get_by_role("link", name="Alle Tabellen als Excel-Datei (XLSX)").click()
    saved = tmp_path / download.value.suggested_filename
    download.value.save_as(saved)

    assert saved.suffix == ".xlsx"
    workbook = load_workbook(saved, read_only=True)
    assert len(workbook.sheetnames) >= 2
    headers = [
        str(cell.value)
        for sheet in workbook.worksheets
        for cell in next(sheet.iter_rows(max_row=1), ())
        if cell.value is not None
    ]
    assert headers, "the workbook's sheets have no header row"
    assert not any(re.fullmatch(r"[a-z_]+", h) for h in headers), headers
