"""'Where is it stuck', for every role's scope: the verification queues' counts and oldest ages per
tier and region (a chart drawn on the server), and the register's recap by region and program. Both
come from the services' own figures (/queues/stats, /stats) with the person's token, so each person
sees their scope only; a role a service does not give figures to is told so."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import Response
from markupsafe import Markup

from dtks_console.access import access_of
from dtks_console.i18n import translations
from dtks_console.pages import age, language, render
from dtks_console.svg_chart import Bar, bar_chart
from dtks_contracts.regions import region_name

router = APIRouter()
TIER_ORDER = ("district", "regency", "regent", "province", "ministry")


def _place(code: str) -> str:
    try:
        return f"{region_name(code)} ({code})"
    except ValueError:
        return code


def queue_bars(queues: list[dict[str, Any]], gettext: Any) -> list[Bar]:
    """One bar per tier and region, in the order a proposal passes the tiers, then by region."""
    ordered = sorted(
        queues,
        key=lambda q: (TIER_ORDER.index(q["tier"]) if q["tier"] in TIER_ORDER else 99, q["region"]),
    )
    return [
        Bar(
            label=f"{gettext('tier:' + q['tier'])} · {q['region']}",
            value=int(q["count"]),
            note=gettext("oldest %(age)s") % {"age": age(float(q["oldest_age_seconds"]), gettext)},
            alarm=int(q.get("past_age_limit") or 0) > 0,
        )
        for q in ordered
    ]


@router.get("/dashboard")
async def dashboard(request: Request) -> Response:
    access = access_of(request)
    session, token = await access.signed_in(request)
    gettext = translations(language(request)).gettext
    queues = await access.call(request, "verification", "GET", "/queues/stats", token)
    recap = await access.call(request, "registry", "GET", "/stats", token)
    chart = None
    if queues.ok and queues.body.get("queues"):
        chart = Markup(
            bar_chart(
                queue_bars(queues.body["queues"], gettext), title=gettext("Waiting per tier and region")
            )
        )
    return render(
        request,
        "dashboard.html",
        user=access.person(session),
        csrf=session.csrf,
        queues=queues.body if queues.ok else None,
        queues_refused=None if queues.ok else queues.problem(),
        chart=chart,
        recap=recap.body if recap.ok else None,
        recap_refused=None if recap.ok else recap.problem(),
        place=_place,
    )
