"""A funder (Bezirksregierung) finds no personal data anywhere in the web interface.

With demo participants recorded and a report released, the funder signs in and
every page reachable from there by following links is opened (a crawl, so a page
added later is covered without changing this test), and every file offered for
download is fetched: none shows a name of a demo participant, in its text, its
markup or its cells, and each page passes the accessibility check. Opening a
participant's page directly is refused without a name either.
"""

from __future__ import annotations

import io
import re
from urllib.parse import urldefrag, urljoin, urlsplit

import psycopg
import pytest
from openpyxl import load_workbook
from playwright.sync_api import Page

from lotse.api.demo import FAMILY, GIVEN, seed
from tests.builders.browser import Served, check_accessibility, sign_in_as_demo

NAMES = re.compile(r"\b(" + "|".join(re.escape(n) for n in [*GIVEN, *FAMILY]) + r")\b")
#: Addresses a crawl must not follow: they change something or are not pages.
NOT_PAGES = ("/auth/logout", "/static/", "/docs", "/openapi.json", "/redoc")
MOST_PAGES = 60


@pytest.fixture(scope="module")
def participant_ids(lotse: Served) -> list[str]:
    """Demo journeys; a report of the Kreis Warendorf released for the funder."""
    seed(lotse.runtime.journeys, 40)
    assert lotse.runtime.checkpoints is not None
    lotse.runtime.checkpoints.create()  # a release is pinned to a signed checkpoint
    with lotse.api("admin", "*") as api:
        released = api.post(
            "/reports/releases",
            json={"report": "monitoring", "period": "2021", "municipality": "warendorf"},
        )
        assert released.status_code == 201, released.text
    with psycopg.connect(lotse.runtime.database.url) as conn:
        rows = conn.execute(
            "SELECT DISTINCT originator_id::text FROM lotse_events LIMIT 5"
        ).fetchall()
    return [r[0] for r in rows]


def links_on(page: Page, origin: str) -> tuple[set[str], set[str]]:
    """The pages and the downloads this page links to, on Lotse's own address."""
    anchors: list[list[str | bool]] = page.eval_on_selector_all(
        "a[href]", "els => els.map(e => [e.href, e.hasAttribute('download')])"
    )
    pages, downloads = set(), set()
    for href, download in anchors:
        url = urldefrag(urljoin(page.url, str(href))).url
        if not url.startswith(origin) or urlsplit(url).path.startswith(NOT_PAGES):
            continue
        (downloads if download or "format=" in url else pages).add(url)
    return pages, downloads


def names_in_download(page: Page, url: str) -> list[str]:
    answer = page.context.request.get(url)
    assert answer.ok, f"{url} answered {answer.status}"
    body = answer.body()
    if body.startswith(b"PK"):  # XLSX: every cell of every sheet
        book = load_workbook(io.BytesIO(body), read_only=True)
        text = " ".join(
            str(v)
            for sheet in book.worksheets
            for row in sheet.iter_rows(values_only=True)
            for v in row
            if v is not None
        )
    else:
        text = body.decode("utf-8", errors="replace")
    return NAMES.findall(text)


def test_no_page_or_download_the_funder_can_reach_shows_a_participant_name(
    page: Page, lotse: Served, participant_ids: list[str]
) -> None:
    sign_in_as_demo(page, "funder")
    queue, seen, fetched = [page.url], set(), set()
    while queue and len(seen) < MOST_PAGES:
        url = queue.pop(0)
        if url in seen:
            continue
        seen.add(url)
        page.goto(url)
        shown = NAMES.search(page.content())
        assert shown is None, f"{url} shows the demo name {shown.group(0)!r}"
        check_accessibility(page, f"funder-{len(seen)}")
        pages, downloads = links_on(page, lotse.base_url)
        for download in sorted(downloads - fetched):
            fetched.add(download)
            assert names_in_download(page, download) == [], download
        queue += sorted(pages - seen)

    assert any("/berichte/veroeffentlicht/" in url for url in seen), sorted(seen)
    assert fetched, "the funder was offered no download of the released report"
    assert len(seen) < MOST_PAGES, f"the crawl stopped at {MOST_PAGES} pages: {sorted(seen)}"


def test_a_participant_page_opened_directly_is_refused_without_a_name(
    page: Page, participant_ids: list[str]
) -> None:
    sign_in_as_demo(page, "funder")

    for pid in participant_ids:
        answer = page.goto(f"/teilnehmende/{pid}")
        assert answer is not None
        assert answer.status in (403, 404)
        assert NAMES.search(page.content()) is None
        check_accessibility(page, "funder-refused")
