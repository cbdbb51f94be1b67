"""Helpers shared by the activation actions."""

from __future__ import annotations

import re
import threading
from collections import namedtuple
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Generic, TypeVar

from sqlalchemy import Connection, Engine
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session

from qunyun.channel.models import ContactKind
from qunyun.core.errors import InvalidInput, NotFound
from qunyun.groups.queries import is_current_member
from qunyun.org.models import Tenant

T = TypeVar("T")


def upsert(session: Session, model: type[Any]) -> Any:
    """Return the dialect's INSERT into ``model``'s table, which has ``on_conflict_do_*``."""
    if session.get_bind().dialect.name == "postgresql":
        return postgresql.insert(model)
    return sqlite.insert(model)


def epoch_ms(moment: datetime) -> int:
    """Return an aware moment as milliseconds since the epoch (Redis scripts compare these)."""
    return int(moment.timestamp() * 1000)


def require_member(
    session: Session,
    tenant: Tenant,
    group_id: str,
    member_kind: ContactKind,
    member_id: str,
    what: str,
) -> None:
    """Raise NotFound unless the member is in the group now: to others ``what`` does not exist.

    The message is the one of a missing ``what``, so that it tells an outsider nothing (not
    even the group).
    """
    if not is_current_member(session, tenant, group_id, member_kind, member_id):
        raise NotFound(f"没有{what}")


def check_offer(
    sku: str, title: str, price_fen: int, stock: int, starts_at: datetime, ends_at: datetime
) -> None:
    """Raise InvalidInput naming the field of a sale or deal that cannot be used, and why."""
    if not sku.strip() or len(sku) > 64:
        raise InvalidInput(f"商品编码 sku 应为 1–64 个字符（收到 {sku!r}）")
    if not title.strip() or len(title) > 200:
        raise InvalidInput(f"标题 title 应为 1–200 个字符（收到 {len(title)} 个）")
    if price_fen < 0:
        raise InvalidInput(f"价格 price_fen 不能为负（收到 {price_fen}）")
    if stock < 1:
        raise InvalidInput(f"库存 stock 至少为 1（收到 {stock}）")
    if starts_at.tzinfo is None or ends_at.tzinfo is None:
        raise InvalidInput("开始和结束时间需带时区")
    if starts_at >= ends_at:
        raise InvalidInput("结束时间 ends_at 应晚于开始时间 starts_at")


# --- the hot paths: driver-level statements, one short write per attempt ----------------------


class Rows:
    """The rows a ``Sql`` statement returned, read like SQLAlchemy's result."""

    def __init__(self, rows: list[Any]) -> None:
        self.rows = rows

    def first(self) -> Any:
        """Return the first row, or None."""
        return self.rows[0] if self.rows else None

    def one(self) -> Any:
        """Return the only row; raise LookupError unless there is exactly one."""
        if len(self.rows) != 1:
            raise LookupError(f"expected one row, got {len(self.rows)}")
        return self.rows[0]

    def all(self) -> list[Any]:
        """Return every row."""
        return self.rows

    def scalar_one(self) -> Any:
        """Return the first column of the only row."""
        return self.one()[0]


class Sql:
    """A statement written once with ``:name`` parameters and run on the driver itself.

    The hot paths (a grab, an order) run a few fixed statements thousands of times a second.
    Written once per dialect and handed straight to the DBAPI connection, they skip
    SQLAlchemy's per-call expression building, compilation cache and result machinery; psycopg
    turns a statement it sees again into a server-side prepared one. They run in whatever
    transaction the SQLAlchemy connection is in (the driver's own), and driver errors come out
    as SQLAlchemy's (``IntegrityError``, ``DataError``…) like any other statement's.
    """

    _NAME = re.compile(r"(?<![:\w]):([a-z_]+)")

    def __init__(self, text: str) -> None:
        self.sqlite = text
        self.postgresql = self._NAME.sub(r"%(\1)s", text)
        self._row_types: dict[tuple[str, ...], Any] = {}

    def run(self, connection: Connection, **params: Any) -> Rows:
        """Execute with ``params`` on ``connection`` and return its rows (none for a write)."""
        postgresql = connection.dialect.name == "postgresql"
        text = self.postgresql if postgresql else self.sqlite
        driver: Any = connection.connection.driver_connection
        dbapi: Any = connection.dialect.loaded_dbapi
        try:
            cursor = driver.execute(text, params)
            description = cursor.description
            rows = cursor.fetchall() if description else []
            cursor.close()
        except dbapi.Error as error:
            raise DBAPIError.instance(text, params, error, dbapi.Error) from error
        return self.rows(description, rows)

    def run_many(self, connection: Connection, params: Sequence[dict[str, Any]]) -> None:
        """Execute a write once per parameter set in one driver call (``executemany``)."""
        if not params:
            return
        postgresql = connection.dialect.name == "postgresql"
        text = self.postgresql if postgresql else self.sqlite
        driver: Any = connection.connection.driver_connection
        dbapi: Any = connection.dialect.loaded_dbapi
        try:
            cursor = driver.cursor()
            try:
                cursor.executemany(text, params)
            finally:
                cursor.close()
        except dbapi.Error as error:
            raise DBAPIError.instance(text, params, error, dbapi.Error) from error

    def rows(self, description: Any, rows: list[Any]) -> Rows:
        """Return the driver's rows of this statement as ``Rows`` of named tuples."""
        if not description:
            return Rows([])
        names = tuple(column[0] for column in description)
        row_type = self._row_types.get(names)
        if row_type is None:
            row_type = self._row_types.setdefault(names, namedtuple("Row", names, rename=True))
        return Rows([row_type(*row) for row in rows])


def run_pipeline(
    connection: Connection, statements: Sequence[tuple[Sql, dict[str, Any]]]
) -> tuple[list[Rows], DBAPIError | None]:
    """Send ``statements`` at once on PostgreSQL (psycopg's pipeline mode); read their rows.

    They run in order, each seeing the ones before it, as one after the other would: one round
    trip for all. The first that fails stops the rest (PostgreSQL skips them until the
    pipeline's sync; in a transaction block the transaction is aborted). Return the rows of
    those that ran before it and its error as SQLAlchemy's (None when all ran). Raise when the
    connection itself fails.
    """
    driver: Any = connection.connection.driver_connection
    dbapi: Any = connection.dialect.loaded_dbapi
    cursors = []
    failure = None
    try:
        with driver.pipeline():
            for sql, params in statements:
                cursors.append(driver.execute(sql.postgresql, params))
    except dbapi.Error as error:  # the first failing statement's, raised at the sync
        failure = error
    answers = []
    for (sql, _), cursor in zip(statements, cursors, strict=False):
        if cursor.pgresult is None:  # failed, or skipped after a failure
            break
        description = cursor.description
        answers.append(sql.rows(description, cursor.fetchall() if description else []))
        cursor.close()
    if failure is None:
        return answers, None
    if driver.broken or len(answers) == len(statements):  # not a statement's failure
        raise DBAPIError.instance(None, None, failure, dbapi.Error) from failure
    sql, params = statements[len(answers)]
    wrapped = DBAPIError.instance(sql.postgresql, params, failure, dbapi.Error)
    if not isinstance(wrapped, DBAPIError):  # instance() wraps every DBAPI error as one
        raise wrapped from failure
    return answers, wrapped


@dataclass(frozen=True)
class Statement(Generic[T]):
    """An attempt that is one statement: its SQL, and how its answer is read.

    ``read`` turns the statement's rows into the attempt's answer, or raises its refusal;
    ``refusal`` returns the refusal a failure of the statement means (a unique key taken at the
    same moment …), or None for a fault, which is raised as it is. Running it alone
    (``run``) and in a pipeline with others (the hot lane's batches) answer the same.
    """

    sql: Sql
    params: dict[str, Any]
    read: Callable[[Rows], T]
    refusal: Callable[[DBAPIError], Exception | None]

    def run(self, connection: Connection) -> T:
        """Execute the statement alone and return its answer."""
        try:
            rows = self.sql.run(connection, **self.params)
        except DBAPIError as error:
            refused = self.refusal(error)
            if refused is None:
                raise
            raise refused from error
        return self.read(rows)

    def answer(self, rows: Rows | DBAPIError) -> T:
        """Return the answer of rows the statement returned (or raise its refusal or failure)."""
        if isinstance(rows, DBAPIError):
            refused = self.refusal(rows)
            if refused is None:
                raise rows
            raise refused from rows
        return self.read(rows)


def outcome(run: Callable[[], T]) -> T | Exception:
    """Return what ``run()`` returns, or the exception it raises (one answer among several)."""
    try:
        return run()
    except Exception as error:
        return error


def db_time(connection: Connection, moment: datetime) -> Any:
    """Return an aware moment as the driver binds it: naive UTC text on SQLite, as is elsewhere.

    The text is exactly what ``UTCDateTime`` stores on SQLite, so that comparisons in SQL agree.
    """
    if connection.dialect.name == "sqlite":
        return moment.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S.%f")
    return moment


def read_time(value: Any) -> datetime:
    """Return a timestamp read at the driver level as an aware UTC datetime."""
    if isinstance(value, str):
        value = datetime.fromisoformat(value)
    assert isinstance(value, datetime)
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


_sqlite_writers: dict[str, threading.Lock] = {}
_sqlite_writers_guard = threading.Lock()


def sqlite_writer(engine: Engine) -> threading.Lock:
    """Return the process's lock of SQLite writers on ``engine`` (hot attempts queue on it)."""
    key = str(engine.url)
    with _sqlite_writers_guard:
        return _sqlite_writers.setdefault(key, threading.Lock())


class Attempt:
    """One member's attempt on a hot path, on a connection it owns or in a caller's transaction.

    ``write()`` brackets the attempt's writes. In a caller's transaction (a ``do_*`` action in
    a unit of work) it does nothing: the caller commits. On a connection of its own (the API's
    hot endpoints, ``attempt()``): on PostgreSQL the connection is in autocommit and a write is
    one statement, so the row locks it takes are held only while PostgreSQL runs it, never
    across a round trip to Python; on SQLite the writes run in ``BEGIN IMMEDIATE`` under a lock
    of the process, so that threads queue on a Python lock instead of SQLite's busy-wait sleeps.
    """

    def __init__(
        self, connection: Connection, *, owns_transactions: bool, in_batch: bool = False
    ) -> None:
        self.connection = connection
        self.owns_transactions = owns_transactions
        self.in_batch = in_batch
        self.is_postgresql = connection.dialect.name == "postgresql"

    def time(self, moment: datetime) -> Any:
        """Return ``moment`` bound for this connection's driver."""
        return db_time(self.connection, moment)

    @contextmanager
    def write(self, *, statements: int = 1) -> Iterator[Connection]:
        """Yield the connection for the attempt's writes, committed together when owned.

        ``statements`` > 1 on PostgreSQL opens an explicit transaction around them.

        In a batch of the hot lane (``activation.lane``: several attempts in one transaction,
        which the lane commits) the writes run under a savepoint, so that an attempt refused
        after a first write takes back only its own; one statement on PostgreSQL needs none
        (it is atomic, and a failing one aborts the batch's transaction, which the lane sees).
        """
        if self.in_batch:
            if self.is_postgresql and statements == 1:
                yield self.connection
                return
            _SAVEPOINT.run(self.connection)
            try:
                yield self.connection
            except BaseException:
                _ROLLBACK_TO_SAVEPOINT.run(self.connection)
                raise
            finally:
                _RELEASE_SAVEPOINT.run(self.connection)
            return
        if not self.owns_transactions or (self.is_postgresql and statements == 1):
            yield self.connection
            return
        lock = None if self.is_postgresql else sqlite_writer(self.connection.engine)
        if lock is not None:
            lock.acquire()
        try:
            BEGIN_IMMEDIATE.run(self.connection) if lock else BEGIN.run(self.connection)
            try:
                yield self.connection
            except BaseException:
                ROLLBACK.run(self.connection)
                raise
            COMMIT.run(self.connection)
        finally:
            if lock is not None:
                lock.release()


BEGIN, BEGIN_IMMEDIATE = Sql("BEGIN"), Sql("BEGIN IMMEDIATE")
COMMIT, ROLLBACK = Sql("COMMIT"), Sql("ROLLBACK")
_SAVEPOINT, _RELEASE_SAVEPOINT = Sql("SAVEPOINT attempt"), Sql("RELEASE SAVEPOINT attempt")
_ROLLBACK_TO_SAVEPOINT = Sql("ROLLBACK TO SAVEPOINT attempt")


@contextmanager
def attempt(engine: Engine) -> Iterator[Attempt]:
    """Yield an attempt on a pooled connection of its own (autocommit; ``write()`` commits)."""
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as connection:
        yield Attempt(connection, owns_transactions=True)


def in_session(session: Session) -> Attempt:
    """Return an attempt that runs in the session's transaction (the caller commits)."""
    return Attempt(session.connection(), owns_transactions=False)


# A scalar subquery, not EXISTS: PostgreSQL may run an EXISTS in a select list as a "hashed
# SubPlan" (every open membership of the tenant's groups hashed, per statement) when its
# statistics are stale, as after a group's members are imported: 4,000 rows hashed for each
# batch of grabs, 0.5 ms of PostgreSQL per grab. A LIMIT keeps it a lookup of the open
# membership (``uq_memberships_open``, one row at most) for each row, whatever the statistics.
_IS_MEMBER = """COALESCE((
    SELECT true FROM memberships m JOIN groups g
      ON g.tenant_id = m.tenant_id AND g.group_id = m.group_id
    WHERE m.tenant_id = {table}.tenant_id AND m.group_id = {table}.group_id
      AND m.member_kind = {kind} AND m.member_id = {member}
      AND m.left_at IS NULL AND g.archived_at IS NULL
    LIMIT 1), false)"""


def is_member_sql(table: str, kind: str = ":kind", member: str = ":member") -> str:
    """Return the SQL of "the member (``kind``, ``member``) is in the group of ``table`` now"."""
    return _IS_MEMBER.format(table=table, kind=kind, member=member)
