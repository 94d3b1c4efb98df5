"""Lotse in a real browser: Debian's Chromium driven by Playwright, checked with axe-core.

- ``missing()`` names what this machine lacks for the browser tests (they skip then).
- ``serving(runtime, sock)`` runs the real application under uvicorn in a thread, on
  a loopback socket, against the test database.
- ``chromium()`` launches ``/usr/bin/chromium`` (never Playwright's own download:
  ``playwright install`` needs the internet).
- ``sign_in_as_demo`` and ``sign_in_through_provider`` sign a page in the way a
  person does: by clicking (or with the keyboard) through the sign-in pages.
- ``check_accessibility(page)`` runs axe-core on what the page shows now and fails
  listing every serious or critical violation; it also fails when the page broke
  its Content-Security-Policy or logged a script error.
- ``screenshot(page, name)`` keeps a PNG under ``.lotse/screenshots``.

axe-core comes from the npm registry, pinned in ``tests/axe/package-lock.json``
and installed by the tests (``tests.builders.npm``).
"""

from __future__ import annotations

import contextlib
import dataclasses
import importlib.util
import os
import re
import shutil
import socket
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import httpx

from lotse.api.app import create_app
from lotse.api.demo_users import demo_principals
from lotse.api.runtime import Runtime
from lotse.api.settings import Settings
from lotse.api.tokens import create_token
from lotse.domain.access import Principal, Role
from lotse.domain.labels import label
from lotse.storage.checkpoints import new_signing_key_text
from lotse.storage.keys import MasterKey
from tests.builders.api import SECRET
from tests.builders.npm import npm_ci

if TYPE_CHECKING:
    from playwright.sync_api import Browser, ConsoleMessage, Page, Response

ROOT = Path(__file__).resolve().parents[2]
CHROMIUM = Path("/usr/bin/chromium")
GERMAN = Path("/usr/lib/chromium/locales/de.pak")
AXE_DIR = ROOT / "tests" / "axe"
#: Every screenshot a test takes (and the one taken when a browser test fails).
SCREENSHOTS = ROOT / ".lotse" / "screenshots"
#: The three the README shows; ``python3 dev.py test -m browser`` with
#: ``LOTSE_README_SCREENSHOTS=1`` renews them (``screenshot(..., readme=True)``).
README_SCREENSHOTS = ROOT / "docs" / "screenshots"
#: axe-core impacts that fail a page (WCAG 2.1 AA is the duty under BITV 2.0).
FAILING_IMPACTS = ("serious", "critical")


def missing() -> str | None:
    """What the browser tests need and this machine lacks, or None."""
    if importlib.util.find_spec("playwright") is None:
        return "Playwright for Python is not installed (python3 dev.py test installs it)"
    if not CHROMIUM.exists():
        return f"Debian's Chromium is missing ({CHROMIUM}; .ci/run: apt-get install chromium)"
    if not GERMAN.exists():
        return f"Chromium's German is missing ({GERMAN}; .ci/run: apt-get install chromium-l10n)"
    if shutil.which("npm") is None:
        return "Node.js with npm is missing (needed to install axe-core from tests/axe)"
    return None


# ------------------------------------------------------------------ Lotse, served


def demo_settings(database_url: str, data_dir: Path, **changes: Any) -> Settings:
    """Settings of a Lotse served to the browser: the demo sign-in, cookies over http.

    ``session_cookie_secure=False`` because the browser talks plain http to
    loopback; the cookie's other flags (HttpOnly, SameSite) stay as in production.
    """
    settings = Settings(
        database_url=database_url,
        data_dir=data_dir,
        config_dir=None,
        secret_key=SECRET,
        master_key=MasterKey.generate().to_text(),
        token_ttl_hours=1,
        audit_signing_key=new_signing_key_text(),
        demo_sign_in=True,
        session_cookie_secure=False,
    )
    return dataclasses.replace(settings, **changes)


def loopback_socket() -> socket.socket:
    """A bound loopback socket: its port is known before the server (or a provider
    that must know the callback address) starts, and no other process can take it."""
    sock = socket.socket()
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    return sock


def base_url_of(sock: socket.socket) -> str:
    return f"http://127.0.0.1:{sock.getsockname()[1]}"


@dataclass
class Served:
    base_url: str
    runtime: Runtime

    def api(self, role: str = "caseworker", organisation: str = "caritas-ahlen") -> httpx.Client:
        """A program on the JSON API of the served Lotse (bearer token): for a test's
        set-up that has no page (enrolments), or to check what a page recorded."""
        token = create_token(SECRET, Principal(f"{role}-{organisation}", Role(role), organisation))
        return httpx.Client(
            base_url=self.base_url, headers={"Authorization": f"Bearer {token}"}, timeout=30
        )


@contextlib.contextmanager
def serving(runtime: Runtime, sock: socket.socket | None = None) -> Iterator[Served]:
    """The real application (``create_app``) under uvicorn in a thread of this process.

    In-process so that the test can reach into the same runtime (the database,
    the projections) that serves the browser; uvicorn runs its own event loop.
    """
    import uvicorn

    sock = sock or loopback_socket()
    config = uvicorn.Config(
        create_app(runtime=runtime), log_level="warning", lifespan="on", access_log=False
    )
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            msg = "Lotse did not start serving for the browser tests"
            raise RuntimeError(msg)
        time.sleep(0.02)
    try:
        yield Served(base_url_of(sock), runtime)
    finally:
        server.should_exit = True
        thread.join(30)
        sock.close()


# ------------------------------------------------------------------ the browser


@contextlib.contextmanager
def chromium() -> Iterator[Browser]:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        # German as the browser's own language too (on Linux Chromium takes it from
        # LANG; its German strings are in chromium-l10n): date fields then take
        # TT.MM.JJJJ as on a German office PC, where the context's locale alone
        # would leave them American.
        browser = playwright.chromium.launch(
            executable_path=str(CHROMIUM),
            env={**os.environ, "LANG": "de_DE.UTF-8", "LANGUAGE": "de"},
        )
        try:
            yield browser
        finally:
            browser.close()


@dataclass
class Watched:
    """What a page logged: CSP violations and script errors fail the accessibility check."""

    base_url: str
    errors: list[str] = field(default_factory=list)

    def console(self, message: ConsoleMessage) -> None:
        # A failed load is reported by ``response`` below, with its address.
        if message.type == "error" and not message.text.startswith("Failed to load resource"):
            self.errors.append(message.text)

    def response(self, response: Response) -> None:
        # A stylesheet, script or image the page needs but does not get. Pages
        # themselves may answer 4xx (a test asks for them); the icon a browser asks
        # for on its own is not something the page asked for.
        kind = response.request.resource_type
        if (
            response.status >= 400
            and kind != "document"
            and not response.url.endswith("/favicon.ico")
        ):
            self.errors.append(f"{kind} {response.url} answered {response.status}")

    def page_error(self, error: Exception) -> None:
        self.errors.append(f"uncaught: {error}")


def open_page(browser: Browser, base_url: str) -> Page:
    """A page in a fresh context (no cookies): German, an office PC's screen."""
    context = browser.new_context(
        base_url=base_url, locale="de-DE", viewport={"width": 1280, "height": 900}
    )
    context.set_default_timeout(10_000)
    page = context.new_page()
    watched = Watched(base_url)
    page.on("console", watched.console)
    page.on("pageerror", watched.page_error)
    page.on("response", watched.response)
    page._lotse_watched = watched  # type: ignore[attr-defined]
    return page


def errors_logged(page: Page) -> list[str]:
    watched: Watched = page._lotse_watched  # type: ignore[attr-defined]
    return watched.errors


# ------------------------------------------------------------------ signing in


def demo_choice(role: str) -> str:
    """The text of the demo sign-in's button for the demo user of ``role``."""
    person = next(p for p in demo_principals() if p.role.value == role)
    return f"{label(person.role)}: {person.user}"


def sign_in_as_demo(page: Page, role: str = "caseworker") -> None:
    """Choose the demo user of ``role`` on the demo sign-in page, with the mouse."""
    page.goto("/auth/demo")
    page.get_by_role("button", name=re.compile(re.escape(demo_choice(role)))).click()
    page.wait_for_load_state()
    assert session_role(page) == role


def session_role(page: Page) -> str | None:
    """The role of the session this page's browser holds (None: not signed in)."""
    answer = page.context.request.get("/auth/session")
    if answer.status != 200:
        return None
    role: str = answer.json()["role"]
    return role


def sign_in_through_provider(page: Page, login: str, next_path: str = "/") -> None:
    """The organisation's sign-in: Lotse sends the browser to the OpenID provider,
    whose development login form is filled in, and the provider sends it back."""
    page.goto(f"/auth/login?issuer=testop&next={next_path}")
    page.locator("input[name=login]").fill(login)
    page.locator("input[name=password]").fill("any")
    page.locator("button[type=submit]").click()
    page.wait_for_url(re.compile(r"^" + re.escape(page_origin(page) + next_path) + r"$"))


def page_origin(page: Page) -> str:
    """Lotse's address for this page (where ``page.goto("/...")`` goes)."""
    watched: Watched = page._lotse_watched  # type: ignore[attr-defined]
    return watched.base_url


def tab_to(page: Page, name: str | re.Pattern[str], *, steps: int = 100) -> list[str]:
    """Press Tab until the focused element's accessible text matches ``name``.

    Returns the focus order walked; fails naming it when ``name`` is never reached
    (a control the keyboard cannot get to).
    """
    wanted = name if isinstance(name, re.Pattern) else re.compile(re.escape(name))
    walked: list[str] = []
    for _ in range(steps):
        page.keyboard.press("Tab")
        focused = page.evaluate(
            """() => { const e = document.activeElement;
                if (!e || e === document.body) return '';
                const label = e.labels && e.labels.length ? e.labels[0].innerText : '';
                return (e.getAttribute('aria-label') || label || e.innerText || e.value
                        || e.name || e.tagName).trim(); }"""
        )
        walked.append(focused)
        if wanted.search(focused):
            return walked
    path = screenshot(page, "failed/keyboard")
    msg = f"{wanted.pattern!r} was not reached with Tab; focus went {walked} (screenshot {path})"
    raise AssertionError(msg)


# ------------------------------------------------------------------ checks and pictures


def axe_source() -> str:
    npm_ci(AXE_DIR, "the accessibility checks of the browser tests (axe-core)")
    return (AXE_DIR / "node_modules" / "axe-core" / "axe.min.js").read_text()


def check_accessibility(page: Page, name: str | None = None) -> list[dict[str, Any]]:
    """Run axe-core on the page as it is now; fail on serious or critical violations.

    axe is evaluated through the DevTools protocol, which the page's
    Content-Security-Policy (``script-src 'self'``) does not govern, so the page is
    checked under its real policy, not with the policy switched off
    (``bypass_csp``), which could hide a page that only works without it. The
    failure lists each violation's rule, impact and the selectors of the elements,
    with the path of a screenshot. Returns all violations (any impact).
    """
    if not page.evaluate("() => typeof window.axe !== 'undefined'"):
        page.evaluate(axe_source())
    found: list[dict[str, Any]] = page.evaluate(
        """async () => {
            const result = await axe.run(document, {resultTypes: ['violations']});
            return result.violations.map(v => ({
                id: v.id, impact: v.impact, help: v.help,
                targets: v.nodes.map(n => n.target.join(' '))}));
        }"""
    )
    failing = [v for v in found if v["impact"] in FAILING_IMPACTS]
    errors = errors_logged(page)
    if failing or errors:
        path = screenshot(page, f"failed/axe-{name or slug(page.url)}")
        lines = [
            f"- {v['id']} ({v['impact']}): {v['help']}; at {', '.join(v['targets'][:5])}"
            for v in failing
        ]
        lines += [f"- the page logged an error: {e}" for e in errors]
        msg = f"{page.url} is not accessible or broke its rules (screenshot {path}):\n" + (
            "\n".join(lines)
        )
        raise AssertionError(msg)
    return found


def slug(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9]+", "-", text).strip("-")[:120] or "page"


def screenshot(
    page: Page, name: str, *, readme: bool = False, full_page: bool | None = None
) -> Path:
    """Save the page as ``.lotse/screenshots/<name>.png``; returns the path.

    The whole page (``full_page``), by default unless for ``readme``: what the
    screen shows (1280 x 900), one of the README's screenshots, also written to
    ``docs/screenshots`` when renewing them was asked for
    (``LOTSE_README_SCREENSHOTS=1``), so that an ordinary test run leaves the
    committed pictures alone.
    """
    path = SCREENSHOTS / f"{name}.png"
    path.parent.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(path), full_page=not readme if full_page is None else full_page)
    if readme and os.environ.get("LOTSE_README_SCREENSHOTS") == "1":
        README_SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(path, README_SCREENSHOTS / path.name)
    return path
