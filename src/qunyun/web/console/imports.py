"""The console's import page: upload a file, read its validation report, then import it.

The upload is kept under ``$QUNYUN_HOME/uploads`` by a random name that only the uploader's
session knows; confirming imports exactly that file. Nothing is written before the confirm:
the preview runs the import in a transaction that is rolled back.
"""

from __future__ import annotations

import secrets
from pathlib import Path
from typing import Annotated, Any

from fastapi import APIRouter, File, Form, Request, UploadFile
from fastapi.responses import HTMLResponse, Response

from qunyun.channel.imports import ENTITIES, ImportRejected, ImportReport, do_import, preview_import
from qunyun.core.db import rolled_back
from qunyun.core.errors import InvalidInput, QunyunError
from qunyun.core.settings import get_settings
from qunyun.org.access import Actor, actor_tenant, require_importer
from qunyun.web.console.pages import ConsoleActor, CsrfChecked, _actor
from qunyun.web.console.render import render
from qunyun.web.deps import work

router = APIRouter()

MAX_UPLOAD_BYTES = 100 * 1024 * 1024
SUFFIXES = (".csv", ".tsv", ".txt", ".xlsx")
SHOWN_ERRORS = 200
SESSION_KEY = "upload"


def _uploads() -> Path:
    folder = get_settings().home / "uploads"
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def _page(
    request: Request, actor: Actor, report: ImportReport | None = None, **context: Any
) -> HTMLResponse:
    values: dict[str, Any] = {
        "entities": list(ENTITIES),
        "report": report,
        "errors": report.errors[:SHOWN_ERRORS] if report else [],
        "error": None,
        "entity": None,
        "file_name": None,
        "done": False,
        **context,
    }
    return render(request, "import.html", actor, values)


@router.get("/import", response_class=HTMLResponse)
def import_page(request: Request) -> Response:
    """Show the upload form (HQ)."""
    actor = _actor(request)
    require_importer(actor)
    return _page(request, actor)


def _save(upload: UploadFile) -> Path:
    """Return where the upload is kept; raise InvalidInput for a wrong type or a huge file."""
    name = upload.filename or ""
    suffix = Path(name).suffix.lower()
    if suffix not in SUFFIXES:
        raise InvalidInput("请上传 .csv 或 .xlsx 文件")
    path = _uploads() / f"{secrets.token_urlsafe(16)}{suffix}"
    size = 0
    with path.open("wb") as handle:
        while chunk := upload.file.read(1024 * 1024):
            size += len(chunk)
            if size > MAX_UPLOAD_BYTES:
                handle.close()
                path.unlink()
                raise InvalidInput(f"文件超过 {MAX_UPLOAD_BYTES // 1024 // 1024} MB")
            handle.write(chunk)
    return path


def _forget(request: Request) -> None:
    kept = request.session.pop(SESSION_KEY, None)
    if isinstance(kept, dict) and isinstance(kept.get("file"), str):
        (_uploads() / Path(kept["file"]).name).unlink(missing_ok=True)


@router.post("/import", response_class=HTMLResponse)
def upload(
    request: Request,
    actor: ConsoleActor,
    _csrf: CsrfChecked,
    entity: Annotated[str, Form(max_length=20)] = "",
    file: Annotated[UploadFile | None, File()] = None,
) -> Response:
    """Check an uploaded file and show its validation report; nothing is written."""
    require_importer(actor)
    _forget(request)
    if entity not in ENTITIES:
        return _page(request, actor, error="请选择导入类型")
    if file is None or not file.filename:
        return _page(request, actor, entity=entity, error="请选择要上传的文件")
    try:
        path = _save(file)
    except InvalidInput as refusal:
        return _page(request, actor, entity=entity, error=refusal.message)
    try:
        with rolled_back(request.app.state.engine) as session:
            report = preview_import(session, actor_tenant(session, actor), entity, path)
    except InvalidInput as refusal:
        path.unlink(missing_ok=True)
        return _page(request, actor, entity=entity, file_name=file.filename, error=refusal.message)
    if report.rejected_rows:
        path.unlink(missing_ok=True)
    else:
        request.session[SESSION_KEY] = {"file": path.name, "entity": entity, "name": file.filename}
    return _page(request, actor, report, entity=entity, file_name=file.filename)


@router.post("/import/confirm", response_class=HTMLResponse)
def confirm(request: Request, actor: ConsoleActor, _csrf: CsrfChecked) -> Response:
    """Import the file checked before (all or nothing, as the command line does)."""
    require_importer(actor)
    kept = request.session.get(SESSION_KEY)
    if not isinstance(kept, dict) or kept.get("entity") not in ENTITIES:
        return _page(request, actor, error="没有待导入的文件，请先上传并校验")
    path = _uploads() / Path(str(kept["file"])).name
    entity, name = str(kept["entity"]), str(kept.get("name", ""))
    try:
        with work(request) as session:
            report = do_import(session, actor_tenant(session, actor), entity, path)
    except ImportRejected as rejected:
        _forget(request)
        return _page(request, actor, rejected.report, entity=entity, file_name=name)
    except QunyunError as refusal:
        _forget(request)
        return _page(request, actor, entity=entity, file_name=name, error=refusal.message)
    _forget(request)
    return _page(request, actor, report, entity=entity, file_name=name, done=True)
