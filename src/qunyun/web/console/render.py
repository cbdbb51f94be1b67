"""Rendering of console pages: templates, language, CSRF token, the logged-in actor."""

from __future__ import annotations

import secrets
from pathlib import Path
from typing import Any

from fastapi import Request
from fastapi.responses import HTMLResponse
from fastapi.templating import Jinja2Templates

from qunyun.org.access import Actor
from qunyun.web.console.i18n import LANG_COOKIE, LANGUAGES, translate

templates = Jinja2Templates(directory=Path(__file__).parent.parent / "templates")


def language(request: Request) -> str:
    """Return the console language of the request: the cookie's, else Chinese."""
    lang = request.cookies.get(LANG_COOKIE, "zh")
    return lang if lang in LANGUAGES else "zh"


def csrf_token(request: Request) -> str:
    """Return the session's CSRF token, making one when the session has none."""
    token = request.session.get("csrf")
    if not isinstance(token, str):
        token = secrets.token_urlsafe(24)
        request.session["csrf"] = token
    return token


def render(
    request: Request,
    name: str,
    actor: Actor | None,
    context: dict[str, Any] | None = None,
    status: int = 200,
) -> HTMLResponse:
    """Return a page of the console."""
    lang = language(request)
    values = {
        "actor": actor,
        "lang": lang,
        "t": lambda key: translate(lang, key),
        "csrf": csrf_token(request),
        "path": request.url.path,
        **(context or {}),
    }
    return templates.TemplateResponse(request, name, values, status_code=status)


def render_error(request: Request, status: int, message: str) -> HTMLResponse:
    """Return the console's error page."""
    return render(request, "error.html", None, {"status": status, "message": message}, status)
