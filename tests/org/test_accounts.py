"""Accounts and integration tokens through the command line."""

from __future__ import annotations

import hashlib

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import Engine, delete, select

from qunyun.core.db import unit_of_work
from qunyun.org.accounts import do_create_account, do_login
from qunyun.org.actions import do_create_tenant
from qunyun.org.models import Account, IntegrationToken, Tenant

from ..conftest import Cli


def test_user_create_keeps_only_an_argon2_hash(cli: Cli, engine: Engine) -> None:
    cli("demo", "--stores", "300", "--consumers", "0", "--no-serve", "--days", "0")

    created = cli(
        "user", "create", "-t", "demo", "--username", "li.ming",
        "--password", "s3cret-pass", "--role", "rep", "--staff-id", "R0002",
    )  # fmt: skip

    with unit_of_work(engine) as session:
        account = session.scalars(select(Account).where(Account.username == "li.ming")).one()
    assert created.output == "已创建账号 li.ming（rep，租户 demo）\n"
    assert account.password_hash.startswith("$argon2id$")
    assert "s3cret-pass" not in account.password_hash
    assert (account.staff_id, account.failed_logins) == ("R0002", 0)


def test_user_create_refuses_bad_input_with_clear_messages(cli: Cli) -> None:
    cli("demo", "--stores", "300", "--consumers", "0", "--no-serve", "--days", "0")
    base = ("user", "create", "-t", "demo", "--password", "long-enough")

    cases = {
        ("--username", "x1", "--role", "boss"): (
            "未知角色 'boss'：可选 hq_admin, manager, supervisor, rep, group_admin, "
            "distributor, analyst"
        ),
        ("--username", "x2", "--role", "rep"): "业务员账号需要 --staff-id（该员工的编号）",
        ("--username", "x3", "--role", "rep", "--staff-id", "S001"): (
            "业务员账号须对应业务员，而 S001 是主管"
        ),
        ("--username", "x4", "--role", "rep", "--staff-id", "R9999"): "没有员工 'R9999'",
        ("--username", "x5", "--role", "distributor"): (
            "经销商账号需要 --distributor-id（其经销商编号）"
        ),
        ("--username", "x6", "--role", "analyst", "--distributor-id", "DS0001"): (
            "只有经销商账号可以指定 --distributor-id"
        ),
        ("--username", "rep", "--role", "analyst"): "用户名 'rep' 已存在",
        ("--username", "a b", "--role", "analyst"): (
            "用户名 'a b' 不合法：2–64 个字母、数字或 _ . @ -，以字母或数字开头"
        ),
    }

    for args, message in cases.items():
        result = cli(*base, *args, expect=1)
        assert result.stderr == f"错误：{message}\n", args
    short = cli(
        "user", "create", "-t", "demo", "--username", "x7", "--password", "short",
        "--role", "analyst", expect=1,
    )  # fmt: skip
    assert short.stderr == "错误：密码至少 8 个字符\n"


def test_token_create_prints_the_token_once_and_stores_its_digest(cli: Cli, engine: Engine) -> None:
    cli("tenant", "create", "acme", "--name", "示例饮料")

    created = cli("token", "create", "--name", "erp-sync", "--scope", "events:write")
    duplicate = cli("token", "create", "--name", "erp-sync", "--scope", "events:write", expect=1)
    unknown = cli("token", "create", "--name", "other", "--scope", "groups:write", expect=1)

    token = created.stdout.strip()
    with unit_of_work(engine) as session:
        record = session.scalars(select(IntegrationToken)).one()
    assert token.startswith("qyt_")
    assert record.token_hash == hashlib.sha256(token.encode()).hexdigest()
    assert (record.name, record.scopes) == ("erp-sync", "events:write")
    assert duplicate.stderr == "错误：令牌 'erp-sync' 已存在\n"
    assert unknown.stderr == "错误：未知权限范围 'groups:write'：可选 events:write\n"


@settings(
    max_examples=15, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    password=st.text(min_size=8, max_size=40).filter(lambda text: "\x00" not in text),
    other=st.text(max_size=40),
)
def test_only_the_same_password_logs_in(engine: Engine, password: str, other: str) -> None:
    with unit_of_work(engine) as session:
        tenant = session.scalar(select(Tenant).where(Tenant.slug == "prop"))
        if tenant is None:
            tenant = do_create_tenant(session, "prop", "性质测试")
        session.execute(delete(Account).where(Account.tenant_id == tenant.id))
        do_create_account(session, tenant, "someone", password, "analyst")

    with unit_of_work(engine) as session:
        right = do_login(session, "prop", "someone", password)
    with unit_of_work(engine) as session:
        wrong = do_login(session, "prop", "someone", other)

    assert right is not None
    assert (wrong is not None) == (other == password)
