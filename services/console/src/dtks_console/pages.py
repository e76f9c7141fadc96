"""Rendering: one Jinja2 environment, every text through the message catalogue of the person's
language, and the headers a signed-in page must carry on a shared computer."""

from __future__ import annotations

import gettext
import hashlib
from contextvars import ContextVar
from functools import cache
from pathlib import Path
from typing import Any

from fastapi import Request
from fastapi.responses import HTMLResponse
from jinja2 import Environment, FileSystemLoader, select_autoescape

from dtks_console.dates import day, moment
from dtks_console.error_text import say
from dtks_console.i18n import DEFAULT_LANGUAGE, LANGUAGES, language_of, translations
from dtks_console.proposal_returns import latest_return, return_reasons

HERE = Path(__file__).parent
STATIC = HERE / "static"
LANGUAGE_COOKIE = "dtks_lang"

env = Environment(
    loader=FileSystemLoader(HERE / "templates"),
    autoescape=select_autoescape(["html"]),
    trim_blocks=True,
    lstrip_blocks=True,
    # The templates ship with the code: a change comes with a restart. Checking each template's file
    # on every use (twenty includes of the decision form on a queue page) cost a stat call each.
    auto_reload=False,
)
# The proposal page and the resubmission form show a return's reasons (_return_reasons.html).
env.globals.update(return_reasons=return_reasons, latest_return=latest_return)
# The page's catalogue while it renders, for the macros imported without the page's context
# (_errors.html's errors_for says each refusal in the page's language).
_catalogue: ContextVar[gettext.NullTranslations] = ContextVar("catalogue")
env.globals["say"] = lambda message: say(message, _catalogue.get(translations(DEFAULT_LANGUAGE)))


@cache
def static_url(name: str) -> str:
    """The asset's address with its content hash, so it can be cached for a year and a new version
    is fetched the moment it changes."""
    digest = hashlib.sha256((STATIC / name).read_bytes()).hexdigest()[:10]
    return f"/static/{name}?v={digest}"


def age(seconds: float, gettext: Any) -> str:
    """A waiting time as a person says it: the largest whole unit."""
    minutes, hours, days = seconds / 60, seconds / 3600, seconds / 86400
    if days >= 1:
        return gettext("%(n)d days") % {"n": int(days)}
    if hours >= 1:
        return gettext("%(n)d hours") % {"n": int(hours)}
    return gettext("%(n)d minutes") % {"n": int(minutes)}


def when(iso: str | None, lang: str = DEFAULT_LANGUAGE) -> str:
    """A moment in the person's language, in WIB ("4 Desember 2026 14.05 WIB")."""
    return moment(iso, lang)


def _label(t: Any, code: str) -> str:
    """A vocabulary value in the person's language: its catalogue entry ("value:ceramic"), or the code
    itself made readable while no translation exists yet."""
    key = f"value:{code}"
    said = t.gettext(key)
    return code.replace("_", " ") if said == key else str(said)


def _program(t: Any, code: str) -> str:
    """A social program's name in the person's language ("program:PBI_JK"), or its code while the
    catalogue has no name for it (a program added to the contracts before its translation)."""
    key = f"program:{code}"
    said = t.gettext(key)
    return code if said == key else str(said)


def language(request: Request) -> str:
    return language_of(request.cookies.get(LANGUAGE_COOKIE))


def render(request: Request, template: str, *, http_status: int = 200, **context: Any) -> HTMLResponse:
    lang = language(request)
    t = translations(lang)
    rendering = _catalogue.set(t)
    try:
        html = _render(template, request, lang, t, context)
    finally:
        _catalogue.reset(rendering)
    # Signed-in pages hold a person's data: never kept by a shared computer's cache or a proxy.
    return HTMLResponse(html, status_code=http_status, headers={"Cache-Control": "no-store"})


def _render(
    template: str, request: Request, lang: str, t: gettext.NullTranslations, context: dict[str, Any]
) -> str:
    return env.get_template(template).render(
        _=t.gettext,
        lang=lang,
        languages=LANGUAGES,
        static_url=static_url,
        age=lambda s: age(s, t.gettext),
        label=lambda code: _label(t, code),
        program=lambda code: _program(t, code),
        when=lambda iso: when(iso, lang),
        day=lambda value: day(value, lang),
        request=request,
        path=request.url.path + (f"?{request.url.query}" if request.url.query else ""),
        **context,
    )
