"""The one place that knows about htmx request headers (STYLE.md §5.3)."""
from __future__ import annotations

from flask import Response, redirect, render_template
from htmx_flask import request
from jinja2_fragments.flask import render_block, render_blocks


def is_htmx() -> bool:
    return bool(getattr(request, "htmx", None))


def is_fragment_request() -> bool:
    """htmx wants part of a page. Boosted and history-restore requests get the whole page."""
    hx = getattr(request, "htmx", None)
    return bool(hx) and not hx.boosted and not hx.history_restore_request


def render(template: str, *, block: str | list[str] | None = None, **ctx) -> str:
    """Render the whole page, or only ``block`` when htmx asks for a fragment."""
    if block and is_fragment_request():
        if isinstance(block, list):
            return render_blocks(template, block, **ctx)
        return render_block(template, block, **ctx)
    return render_template(template, **ctx)


def redirect_to(url: str):
    """Post/Redirect/Get that also works when the POST came from a non-boosted htmx request (so
    a whole page is never swapped into a small target): htmx gets ``HX-Redirect``, plain and
    boosted requests a 303 (which htmx follows and swaps into <body> itself)."""
    if is_fragment_request():
        return Response(status=204, headers={"HX-Redirect": url})
    return redirect(url, 303)


def full_redirect(url: str):
    """A full navigation (new page, new CSRF token in <body>), e.g. after login or logout."""
    if is_htmx():
        return Response(status=204, headers={"HX-Redirect": url})
    return redirect(url, 303)


def trigger(response, *events: str):
    """Add ``HX-Trigger`` events (e.g. ``ticket-changed``) for other regions to refresh."""
    response.headers["HX-Trigger"] = ", ".join(events)
    return response
