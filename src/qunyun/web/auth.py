"""Who is calling: signed API tokens, integration tokens, console sessions and CSRF tokens."""

from __future__ import annotations

import hashlib
import hmac
import os
import secrets
from pathlib import Path
from typing import Any

from itsdangerous import BadSignature, URLSafeTimedSerializer
from sqlalchemy.orm import Session

from qunyun.core.settings import get_settings
from qunyun.org.access import Actor
from qunyun.org.accounts import TOKEN_PREFIX, active_account, integration_token
from qunyun.org.models import Account

ACCESS_TOKEN_SECONDS = 12 * 3600
"""How long a bearer token from ``POST /api/v1/auth/token`` (and a console session) lasts."""
SESSION_COOKIE = "qunyun_session"


def secret_key() -> str:
    """Return QUNYUN_SECRET_KEY, or the random key kept in QUNYUN_HOME/secret.key (made once)."""
    settings = get_settings()
    if settings.secret_key is not None:
        return settings.secret_key
    path: Path = settings.home / "secret.key"
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        try:
            descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except FileExistsError:
            pass  # another process made it first: use theirs
        else:
            with os.fdopen(descriptor, "w") as handle:
                handle.write(secrets.token_urlsafe(48))
    return path.read_text().strip()


def _password_mark(account: Account) -> str:
    """Return a short mark of the password hash: a new password ends every older token."""
    return hashlib.sha256(account.password_hash.encode()).hexdigest()[:16]


class TokenSigner:
    """Signs and checks the bearer tokens of people (integration tokens are looked up instead)."""

    def __init__(self, key: str) -> None:
        self.serializer = URLSafeTimedSerializer(key, salt="qunyun-api-token")

    def issue(self, account: Account) -> str:
        """Return a bearer token for the account, valid ``ACCESS_TOKEN_SECONDS``."""
        return self.serializer.dumps({"a": account.id, "p": _password_mark(account)})

    def actor(self, session: Session, token: str) -> Actor | None:
        """Return the actor a bearer token stands for, or None when it is not (or no longer) good."""
        if token.startswith(TOKEN_PREFIX):
            record = integration_token(session, token)
            if record is None:
                return None
            return Actor.integration(
                record.tenant_id, f"token:{record.name}", frozenset(record.scopes.split())
            )
        try:
            payload: Any = self.serializer.loads(token, max_age=ACCESS_TOKEN_SECONDS)
        except BadSignature:
            return None
        if not isinstance(payload, dict) or not isinstance(payload.get("a"), int):
            return None
        return account_actor(session, payload["a"], payload.get("p"))


def account_actor(session: Session, account_id: int, mark: object) -> Actor | None:
    """Return the actor of an active account whose password mark still matches."""
    account = active_account(session, account_id)
    if account is None or not isinstance(mark, str):
        return None
    if not hmac.compare_digest(mark, _password_mark(account)):
        return None
    return Actor.for_account(account)


def session_payload(account: Account) -> dict[str, Any]:
    """Return what the console keeps in its signed session cookie for a logged-in account."""
    return {
        "account": account.id,
        "mark": _password_mark(account),
        "csrf": secrets.token_urlsafe(24),
    }
