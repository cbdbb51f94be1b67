"""Who is calling: signed API tokens, integration tokens, console sessions and CSRF tokens."""

from __future__ import annotations

import hashlib
import hmac
import os
import secrets
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from itsdangerous import BadSignature, URLSafeTimedSerializer
from sqlalchemy.orm import Session

from qunyun.channel.models import ContactKind
from qunyun.core.settings import get_settings
from qunyun.org.access import Actor
from qunyun.org.accounts import TOKEN_PREFIX, active_account, integration_token
from qunyun.org.models import Account

ACCESS_TOKEN_SECONDS = 12 * 3600
"""How long a bearer token from ``POST /api/v1/auth/token`` (and a console session) lasts."""
SESSION_COOKIE = "qunyun_session"
MEMBER_TOKEN_SECONDS = 7 * 24 * 3600
"""How long a member identity token (the H5 pages' login) lasts."""
MEMBER_TOKENS_REMEMBERED = 100_000
"""How many checked member tokens a process keeps (then it forgets them all and starts over)."""


@dataclass(frozen=True)
class Member:
    """A group member acting through the H5 pages: who they are, in which tenant."""

    tenant_id: int
    kind: ContactKind
    member_id: str


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
        # another salt: a member token never passes as a staff token, nor the other way round
        self.member_serializer = URLSafeTimedSerializer(key, salt="qunyun-member-token")
        self.member_csrf_key = hashlib.sha256(f"qunyun-member-csrf:{key}".encode()).digest()
        self._members: dict[str, tuple[Member, float]] = {}

    def issue(self, account: Account) -> str:
        """Return a bearer token for the account, valid ``ACCESS_TOKEN_SECONDS``."""
        return self.serializer.dumps({"a": account.id, "p": _password_mark(account)})

    def issue_member(self, member: Member) -> str:
        """Return a member identity token, valid ``MEMBER_TOKEN_SECONDS``."""
        return self.member_serializer.dumps(
            {"t": member.tenant_id, "k": member.kind.value, "m": member.member_id}
        )

    def member(self, token: str) -> Member | None:
        """Return the member a member token stands for, or None when it is not good.

        Good tokens are remembered with their signing time (a grab costs less than checking
        a signature), and still expire ``MEMBER_TOKEN_SECONDS`` after it.
        """
        known = self._members.get(token)
        if known is not None:
            if time.time() - known[1] <= MEMBER_TOKEN_SECONDS:
                return known[0]
            self._members.pop(token, None)
        try:
            payload, signed = self.member_serializer.loads(
                token, max_age=MEMBER_TOKEN_SECONDS, return_timestamp=True
            )
        except BadSignature:
            return None
        member = self._member_of(payload)
        if member is not None:
            if len(self._members) >= MEMBER_TOKENS_REMEMBERED:
                self._members.clear()
            self._members[token] = (member, signed.timestamp())
        return member

    @staticmethod
    def _member_of(payload: Any) -> Member | None:
        if not isinstance(payload, dict):
            return None
        tenant_id, kind, member_id = payload.get("t"), payload.get("k"), payload.get("m")
        if not (
            isinstance(tenant_id, int) and isinstance(kind, str) and isinstance(member_id, str)
        ):
            return None
        try:
            return Member(tenant_id, ContactKind(kind), member_id)
        except ValueError:
            return None

    def member_csrf(self, token: str) -> str:
        """Return the CSRF token of the H5 pages for a member token (derived, nothing stored)."""
        return hmac.new(self.member_csrf_key, token.encode(), "sha256").hexdigest()

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
