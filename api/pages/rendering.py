"""Templates and the responses of the web pages: every page leaves through here.

``render`` fills a template of ``api/templates`` (Jinja2, autoescaped: whatever a
person typed into a form is shown as text, never run) and ``redirect`` answers a
form post with 303. Both set the security headers a page needs
(``PAGE_HEADERS``): a strict Content-Security-Policy (scripts and styles only from
this site, so no inline script or style anywhere), no framing, no sniffing, the
referrer kept on this site, and ``Cache-Control: no-store``, because pages show
personal data and must stay out of shared caches and the browser's history cache.
Static files (``/static``) may be cached: they hold nothing personal.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date, datetime
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from fastapi import Request
from fastapi.responses import HTMLResponse, RedirectResponse
from jinja2 import Environment, FileSystemLoader, StrictUndefined, select_autoescape

from lotse.api.pages.navigation import navigation_for
from lotse.domain.labels import event_label, field_label, label, role_label, status_title

TEMPLATES = Path(__file__).resolve().parent.parent / "templates"
STATIC = Path(__file__).resolve().parent.parent / "static"

CONTENT_SECURITY_POLICY = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "form-action 'self'; frame-ancestors 'none'; base-uri 'none'; object-src 'none'"
)
#: On every page response (and redirect) of the web interface.
PAGE_HEADERS: Mapping[str, str] = {
    "Content-Security-Policy": CONTENT_SECURITY_POLICY,
    "X-Frame-Options": "DENY",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
    "Cache-Control": "no-store",
}
#: Times are shown as the people using Lotse read them: German local time.
LOCAL_TIME = ZoneInfo("Europe/Berlin")


def german_date(value: date | datetime | str | None) -> str:
    if value is None or value == "":
        return ""
    if isinstance(value, str):
        try:
            return date.fromisoformat(value).strftime("%d.%m.%Y")
        except ValueError:
            return value
    if isinstance(value, datetime):
        return value.astimezone(LOCAL_TIME).strftime("%d.%m.%Y, %H:%M Uhr")
    return value.strftime("%d.%m.%Y")


def german_number(value: Decimal | float | int | str | None) -> str:
    """4.50 as German readers write it: "4,5"; whole numbers without decimals."""
    if value is None or value == "":
        return ""
    try:
        number = Decimal(str(value))
    except InvalidOperation:
        return str(value)
    if number == number.to_integral_value():
        return f"{number:,.0f}".replace(",", ".")
    sign = "-" if number < 0 else ""
    whole, _, fraction = f"{abs(number).normalize():f}".partition(".")
    return sign + f"{int(whole):,}".replace(",", ".") + "," + fraction


def _environment() -> Environment:
    env = Environment(
        loader=FileSystemLoader(TEMPLATES),
        # Every template is HTML: escape always, whatever its file name.
        autoescape=select_autoescape(default=True, default_for_string=True),
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters["label"] = label
    env.filters["event_label"] = event_label
    env.filters["field_label"] = field_label
    env.filters["role_label"] = role_label
    env.filters["german_date"] = german_date
    env.filters["german_number"] = german_number
    env.globals["status_title"] = status_title
    env.globals["navigation"] = navigation_for
    return env


templates = _environment()


def render(
    request: Request,
    template: str,
    context: Mapping[str, Any] | None = None,
    *,
    status_code: int = 200,
    headers: Mapping[str, str] | None = None,
) -> HTMLResponse:
    """A page: the template with the signed-in person (if any) and the page headers.

    Templates read ``visitor`` (``api.pages.visitors.Visitor`` or ``None``) for the
    navigation, the person's name and role and the CSRF token of every form.
    """
    values = {"visitor": getattr(request.state, "visitor", None), "request_path": request.url.path}
    values.update(context or {})
    html = templates.get_template(template).render(values)
    return HTMLResponse(html, status_code=status_code, headers={**PAGE_HEADERS, **(headers or {})})


def redirect(path: str) -> RedirectResponse:
    """303 See Other to a path of this site (after a form post, to a page)."""
    if not path.startswith("/") or path.startswith("//"):
        path = "/"
    return RedirectResponse(path, status_code=303, headers=dict(PAGE_HEADERS))
