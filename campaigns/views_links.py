"""/l/<code>: count the click, then redirect through a small page (script redirect, meta-refresh fallback)."""

from __future__ import annotations

from django.http import HttpResponse, HttpResponseNotFound
from django.template.loader import render_to_string
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET

from campaigns.links import link_click


@never_cache
@require_GET
def short_link(request, code: str):
    url = link_click(code=code, user_agent=request.headers.get("User-Agent", ""))
    if url is None:
        return HttpResponseNotFound(render_to_string("campaigns/link_missing.html"))
    response = HttpResponse(render_to_string("campaigns/redirect.html", {"url": url}))
    response["Referrer-Policy"] = "no-referrer"
    return response
