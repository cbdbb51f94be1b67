"""Writes and checks of accounts (console / API logins) and integration tokens.

Passwords are kept as argon2 hashes; integration tokens as SHA-256 digests (they are long
random strings, so a fast digest is enough and lets a request find its token by the digest).
"""

from __future__ import annotations

import contextlib
import hashlib
import re
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import cache

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy import select, update
from sqlalchemy.orm import Session

from qunyun.channel.models import Distributor
from qunyun.core.clock import utcnow
from qunyun.core.errors import Conflict, InvalidInput, NotFound, Throttled
from qunyun.org.models import (
    ACCOUNT_ROLE_LABELS,
    STAFF_ROLE_LABELS,
    Account,
    AccountRole,
    IntegrationToken,
    Staff,
    StaffRole,
    Tenant,
)

MAX_FAILED_LOGINS = 5
"""Consecutive failed logins after which an account is locked for ``LOCKOUT``."""
LOCKOUT = timedelta(minutes=15)
MIN_PASSWORD_LENGTH = 8
TOKEN_PREFIX = "qyt_"
TOKEN_SCOPES = {"events:write": "写入事件（POST /api/v1/events）"}

_USERNAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.@-]{1,63}$")
_TOKEN_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,99}$")

STAFF_ROLE_OF_ACCOUNT = {
    AccountRole.MANAGER: (StaffRole.MANAGER, StaffRole.DIRECTOR),
    AccountRole.SUPERVISOR: (StaffRole.SUPERVISOR,),
    AccountRole.REP: (StaffRole.REP,),
    AccountRole.GROUP_ADMIN: (StaffRole.GROUP_ADMIN,),
}
"""Roles whose scope follows a staff member, and the staff roles such an account may hold."""


@cache
def password_hasher() -> PasswordHasher:
    """Return the argon2id hasher (library defaults: RFC 9106 low-memory profile)."""
    return PasswordHasher()


def check_create_account(
    session: Session,
    tenant: Tenant,
    username: str,
    password: str,
    role: str,
    staff_id: str | None,
    distributor_id: str | None,
) -> AccountRole:
    """Return the role; raise InvalidInput or NotFound for bad values, Conflict for a taken name.

    A rep, supervisor, manager or group admin account names the staff member it belongs to
    (of that role); a distributor account names the distributor whose network it sees.
    """
    try:
        account_role = AccountRole(role)
    except ValueError:
        known = ", ".join(member.value for member in AccountRole)
        raise InvalidInput(f"未知角色 {role!r}：可选 {known}") from None
    if not _USERNAME.match(username):
        raise InvalidInput(
            f"用户名 {username!r} 不合法：2–64 个字母、数字或 _ . @ -，以字母或数字开头"
        )
    if len(password) < MIN_PASSWORD_LENGTH:
        raise InvalidInput(f"密码至少 {MIN_PASSWORD_LENGTH} 个字符")
    label = ACCOUNT_ROLE_LABELS[account_role]
    wanted_staff = STAFF_ROLE_OF_ACCOUNT.get(account_role)
    if wanted_staff is not None and staff_id is None:
        raise InvalidInput(f"{label}账号需要 --staff-id（该员工的编号）")
    if staff_id is not None:
        staff = session.get(Staff, (tenant.id, staff_id))
        if staff is None:
            raise NotFound(f"没有员工 {staff_id!r}")
        if staff.left_at is not None:
            raise InvalidInput(f"员工 {staff_id} 已离职")
        if wanted_staff is not None and staff.role not in wanted_staff:
            raise InvalidInput(
                f"{label}账号须对应{STAFF_ROLE_LABELS[wanted_staff[0]]}，"
                f"而 {staff_id} 是{STAFF_ROLE_LABELS[staff.role]}"
            )
    if account_role is AccountRole.DISTRIBUTOR:
        if distributor_id is None:
            raise InvalidInput("经销商账号需要 --distributor-id（其经销商编号）")
        if session.get(Distributor, (tenant.id, distributor_id)) is None:
            raise NotFound(f"没有经销商 {distributor_id!r}")
    elif distributor_id is not None:
        raise InvalidInput("只有经销商账号可以指定 --distributor-id")
    taken = session.scalar(
        select(Account.id).where(Account.tenant_id == tenant.id, Account.username == username)
    )
    if taken is not None:
        raise Conflict(f"用户名 {username!r} 已存在")
    return account_role


def do_create_account(
    session: Session,
    tenant: Tenant,
    username: str,
    password: str,
    role: str,
    *,
    staff_id: str | None = None,
    distributor_id: str | None = None,
) -> Account:
    """Create an account after ``check_create_account``; only the password's hash is kept."""
    account_role = check_create_account(
        session, tenant, username, password, role, staff_id, distributor_id
    )
    account = Account(
        tenant_id=tenant.id,
        username=username,
        password_hash=password_hasher().hash(password),
        role=account_role,
        staff_id=staff_id,
        distributor_id=distributor_id,
        is_active=True,
        failed_logins=0,
        created_at=utcnow(),
    )
    session.add(account)
    session.flush()
    return account


def do_login(
    session: Session, tenant_slug: str, username: str, password: str, now: datetime | None = None
) -> Account | None:
    """Return the account when the password is right, else None after counting the failure.

    The caller must commit even when None comes back, so that failures are counted. Raise
    Throttled while the account is locked after ``MAX_FAILED_LOGINS`` failures in a row.
    An unknown tenant or user costs one hash too, so that timing does not tell names apart.
    """
    now = now or utcnow()
    account = session.scalar(
        select(Account)
        .join(Tenant, Tenant.id == Account.tenant_id)
        .where(Tenant.slug == tenant_slug, Account.username == username)
    )
    if account is None or not account.is_active or not _staff_is_active(session, account):
        _waste_one_hash(password)
        return None
    if account.locked_until is not None and account.locked_until > now:
        minutes = max(1, round((account.locked_until - now).total_seconds() / 60))
        raise Throttled(f"登录失败次数过多，账号已锁定，请 {minutes} 分钟后再试")
    try:
        password_hasher().verify(account.password_hash, password)
    except (VerificationError, InvalidHashError):
        failures = session.execute(
            update(Account)
            .where(Account.id == account.id)
            .values(failed_logins=Account.failed_logins + 1)
            .returning(Account.failed_logins)
        ).scalar_one()
        if failures >= MAX_FAILED_LOGINS:
            session.execute(
                update(Account)
                .where(Account.id == account.id)
                .values(failed_logins=0, locked_until=now + LOCKOUT)
            )
        return None
    account.failed_logins = 0
    account.locked_until = None
    account.last_login_at = now
    if password_hasher().check_needs_rehash(account.password_hash):
        account.password_hash = password_hasher().hash(password)
    session.flush()
    return account


def _staff_is_active(session: Session, account: Account) -> bool:
    if account.staff_id is None:
        return True
    staff = session.get(Staff, (account.tenant_id, account.staff_id))
    return staff is not None and staff.left_at is None


_DUMMY_HASH: list[str] = []


def _waste_one_hash(password: str) -> None:
    if not _DUMMY_HASH:
        _DUMMY_HASH.append(password_hasher().hash(secrets.token_hex(8)))
    with contextlib.suppress(VerificationError):
        password_hasher().verify(_DUMMY_HASH[0], password)


def active_account(session: Session, account_id: int) -> Account | None:
    """Return the account if it still exists, is active and its person has not left."""
    account = session.get(Account, account_id)
    if account is None or not account.is_active or not _staff_is_active(session, account):
        return None
    return account


@dataclass(frozen=True)
class IssuedToken:
    """An integration token as created: ``token`` is shown once and never stored."""

    record: IntegrationToken
    token: str


def token_digest(token: str) -> str:
    """Return the digest under which a token is stored."""
    return hashlib.sha256(token.encode()).hexdigest()


def check_create_token(session: Session, tenant: Tenant, name: str, scopes: list[str]) -> None:
    """Raise InvalidInput for a bad name or unknown scope, Conflict for a taken name."""
    if not _TOKEN_NAME.match(name):
        raise InvalidInput(f"令牌名称 {name!r} 不合法：1–100 个字母、数字或 _ . -")
    if not scopes:
        raise InvalidInput("至少指定一个 --scope")
    for scope in scopes:
        if scope not in TOKEN_SCOPES:
            raise InvalidInput(f"未知权限范围 {scope!r}：可选 {', '.join(TOKEN_SCOPES)}")
    taken = session.scalar(
        select(IntegrationToken.id).where(
            IntegrationToken.tenant_id == tenant.id, IntegrationToken.name == name
        )
    )
    if taken is not None:
        raise Conflict(f"令牌 {name!r} 已存在")


def do_create_token(session: Session, tenant: Tenant, name: str, scopes: list[str]) -> IssuedToken:
    """Create an integration token after ``check_create_token``; return it with its secret."""
    check_create_token(session, tenant, name, scopes)
    token = TOKEN_PREFIX + secrets.token_urlsafe(32)
    record = IntegrationToken(
        tenant_id=tenant.id,
        name=name,
        scopes=" ".join(sorted(set(scopes))),
        token_hash=token_digest(token),
        created_at=utcnow(),
    )
    session.add(record)
    session.flush()
    return IssuedToken(record, token)


def integration_token(session: Session, token: str) -> IntegrationToken | None:
    """Return the unrevoked integration token whose secret is ``token``."""
    record = session.scalar(
        select(IntegrationToken).where(IntegrationToken.token_hash == token_digest(token))
    )
    if record is None or record.revoked_at is not None:
        return None
    return record


def _account(session: Session, tenant: Tenant, username: str) -> Account:
    account = session.scalar(
        select(Account)
        .where(Account.tenant_id == tenant.id, Account.username == username)
        .with_for_update()
    )
    if account is None:
        raise NotFound(f"没有账号 {username!r}")
    return account


def do_set_password(session: Session, tenant: Tenant, username: str, password: str) -> Account:
    """Give an account a new password; it ends every earlier bearer token and session, unlocks.

    Raise NotFound for an unknown username and InvalidInput for a short password.
    """
    if len(password) < MIN_PASSWORD_LENGTH:
        raise InvalidInput(f"密码至少 {MIN_PASSWORD_LENGTH} 个字符")
    account = _account(session, tenant, username)
    account.password_hash = password_hasher().hash(password)
    account.failed_logins = 0
    account.locked_until = None
    session.flush()
    return account


def do_set_account_active(
    session: Session, tenant: Tenant, username: str, *, is_active: bool
) -> Account:
    """Disable (or enable again) an account; a disabled one cannot log in or use its tokens."""
    account = _account(session, tenant, username)
    if account.is_active == is_active:
        state = "已启用" if is_active else "已停用"
        raise Conflict(f"账号 {username!r} {state}")
    account.is_active = is_active
    session.flush()
    return account


def do_revoke_token(session: Session, tenant: Tenant, name: str) -> IntegrationToken:
    """Revoke an integration token; raise NotFound for an unknown name, Conflict if revoked."""
    record = session.scalar(
        select(IntegrationToken)
        .where(IntegrationToken.tenant_id == tenant.id, IntegrationToken.name == name)
        .with_for_update()
    )
    if record is None:
        raise NotFound(f"没有令牌 {name!r}")
    if record.revoked_at is not None:
        raise Conflict(f"令牌 {name!r} 已于 {record.revoked_at:%Y-%m-%d} 吊销")
    record.revoked_at = utcnow()
    session.flush()
    return record
