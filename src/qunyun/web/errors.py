"""One error format for the API, the console and the H5 pages, and what API routes declare of it.

Every error of the API answers ``{"detail": message}`` with the status of its kind
(``STATUS``); the console and the H5 pages show the message on a page. A member's activation
attempt that the current state refuses (``ActivationConflict``) answers 409
``{"error": code, "detail": message}`` instead: routes that may refuse so declare
``responses=REFUSALS``, so that OpenAPI shows the body they send.
"""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, RedirectResponse, Response
from sqlalchemy.exc import TimeoutError as PoolTimeout
from starlette.exceptions import HTTPException

from qunyun.activation.errors import ActivationConflict
from qunyun.core.errors import (
    Conflict,
    Forbidden,
    InvalidInput,
    NotFound,
    QunyunError,
    Throttled,
    Unauthenticated,
)
from qunyun.web.api.activation_schemas import ActivationErrorOut
from qunyun.web.api.schemas import ErrorOut
from qunyun.web.console.render import render_error
from qunyun.web.h5 import pages as h5_pages

STATUS = {
    InvalidInput: 400,
    Unauthenticated: 401,
    Forbidden: 403,
    NotFound: 404,
    Conflict: 409,
    Throttled: 429,
}
ERROR_RESPONSES: dict[int | str, dict[str, Any]] = {
    status: {"model": ErrorOut} for status in (400, 401, 403, 404, 409, 422, 429, 503)
}
"""What every API route may answer, declared once on each router."""
REFUSALS: dict[int | str, dict[str, Any]] = {409: {"model": ActivationErrorOut}}
"""What a route answers when it refuses a member's attempt (``ActivationConflict``)."""


def add_error_handlers(app: FastAPI) -> None:
    """Make ``app`` answer every error in the one format."""
    app.add_exception_handler(QunyunError, _domain_error)
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_exception_handler(HTTPException, _http_error)
    app.add_exception_handler(PoolTimeout, _busy_error)
    app.add_exception_handler(Exception, _unexpected_error)


def _is_api(request: Request) -> bool:
    return request.url.path.startswith("/api/")


def _error(request: Request, status: int, message: str) -> Response:
    if _is_api(request):
        headers = {"WWW-Authenticate": "Bearer"} if status == 401 else None
        return JSONResponse({"detail": message}, status_code=status, headers=headers)
    if request.url.path.startswith("/h5/"):
        return h5_pages.render_h5_error(request, status, message)
    if status == 401:
        return RedirectResponse(f"/login?next={request.url.path}", status_code=303)
    return render_error(request, status, message)


async def _domain_error(request: Request, error: Exception) -> Response:
    assert isinstance(error, QunyunError)
    status = next((code for kind, code in STATUS.items() if isinstance(error, kind)), 400)
    if isinstance(error, ActivationConflict) and _is_api(request):  # the body of REFUSALS
        return JSONResponse({"error": error.code, "detail": error.message}, status_code=status)
    return _error(request, status, error.message)


async def _validation_error(request: Request, error: Exception) -> Response:
    assert isinstance(error, RequestValidationError)
    problems = []
    for issue in error.errors():
        where = ".".join(str(part) for part in issue.get("loc", ()) if part != "body")
        problems.append(f"{where or '请求体'}: {issue.get('msg', '无效')}")
    return _error(request, 422, "请求参数有误：" + "；".join(problems))


async def _http_error(request: Request, error: Exception) -> Response:
    assert isinstance(error, HTTPException)
    messages = {404: "没有这个地址", 405: "不支持这种请求方法"}
    message = messages.get(error.status_code, str(error.detail))
    response = _error(request, error.status_code, message)
    if error.headers:
        response.headers.update(error.headers)
    return response


BUSY_RETRY_SECONDS = 5


async def _busy_error(request: Request, error: Exception) -> Response:
    """Answer 503 when every database connection stayed busy: overload, not a fault."""
    response = _error(
        request,
        503,
        "服务器繁忙：数据库连接已全部占用，请稍后重试"
        f"（Server busy: every database connection is in use; retry in {BUSY_RETRY_SECONDS} s）",
    )
    response.headers["Retry-After"] = str(BUSY_RETRY_SECONDS)
    return response


async def _unexpected_error(request: Request, error: Exception) -> Response:
    return _error(request, 500, "服务器内部错误，已记录；请稍后再试")
