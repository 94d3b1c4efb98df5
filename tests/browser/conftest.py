"""Fixtures of the browser tests: one Chromium for all of them, Lotse served per module.

Every test here is marked ``browser`` (``pytest -m browser`` runs only them,
``-m "not browser"`` all others); they run by default. They skip, naming what is
missing, on a machine without Chromium, Playwright or npm. A failing test leaves a
screenshot of its page; the report names its path.

A module's tests share one served Lotse and its database (emptied when the module
starts), so they must not use the ``runtime`` fixture, which empties the tables
under the running server: ``lotse.runtime`` is the served one.
"""

from __future__ import annotations

from collections.abc import Generator, Iterator
from typing import TYPE_CHECKING

import pytest

from lotse.api.runtime import build_runtime
from tests.builders.browser import (
    Served,
    chromium,
    demo_settings,
    missing,
    open_page,
    screenshot,
    serving,
    slug,
)
from tests.builders.database import empty_tables

if TYPE_CHECKING:
    from playwright.sync_api import Browser, Page


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    lacking = missing()
    for item in items:
        if item.path.parent.name == "browser" and "tests" in item.path.parts:
            item.add_marker(pytest.mark.browser)
            if lacking:
                item.add_marker(pytest.mark.skip(reason=lacking))


@pytest.fixture(scope="package")
def browser() -> Iterator[Browser]:
    with chromium() as launched:
        yield launched


@pytest.fixture(scope="module")
def lotse(database_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    """The real application with the demo sign-in, on a loopback port, for one module."""
    empty_tables(database_url)
    runtime = build_runtime(demo_settings(database_url, tmp_path_factory.mktemp("lotse")))
    try:
        with serving(runtime) as served:
            yield served
    finally:
        runtime.close()


@pytest.fixture
def page(browser: Browser, lotse: Served) -> Iterator[Page]:
    """A fresh browser context (no cookies) on the module's Lotse."""
    opened = open_page(browser, lotse.base_url)
    yield opened
    opened.context.close()


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(
    item: pytest.Item, call: pytest.CallInfo[None]
) -> Generator[None, pytest.TestReport, pytest.TestReport]:
    report = yield
    opened = getattr(item, "funcargs", {}).get("page")
    if report.failed and report.when == "call" and opened is not None:
        try:
            path = screenshot(opened, f"failed/{item.path.stem}-{slug(item.name)}")
        except Exception as e:  # the page itself may be what broke
            report.sections.append(("screenshot", f"none: {e}"))
        else:
            report.sections.append(("screenshot", f"the page when it failed: {path}"))
    return report
