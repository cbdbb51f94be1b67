"""Bulk writes at driver speed for imports of millions of rows.

SQLAlchemy's per-row parameter processing costs more than SQLite's own insert at this size,
so rows are bound here with only the conversions they need (enums to their values,
timestamps through the column's type; constants such as ``created_at`` once) and sent with
the driver's ``executemany``. Used only inside an open transaction; the caller's unit of
work commits or rolls back.
"""

from __future__ import annotations

import gc
import threading
from collections.abc import Callable, Collection, Iterable, Iterator, Sequence
from contextlib import contextmanager
from enum import Enum
from typing import Any

from sqlalchemy import Connection, DateTime, Table
from sqlalchemy import Enum as SqlEnum

from qunyun.core.db import UTCDateTime


class BulkWriter:
    """Insert or update many rows of one table through the driver."""

    def __init__(self, connection: Connection, table: Table) -> None:
        self.connection = connection
        self.table = table
        dialect = connection.dialect
        self.mark = "?" if dialect.paramstyle == "qmark" else "%s"
        self.quote = dialect.identifier_preparer.quote
        self.table_name = dialect.identifier_preparer.format_table(table)

    def bound(self, column: str, value: Any) -> Any:
        """Return ``value`` as the driver stores it in ``column`` (for constants: call once)."""
        dialect = self.connection.dialect
        processor = self.table.c[column].type.dialect_impl(dialect).bind_processor(dialect)
        return processor(value) if processor is not None else value

    def existing(
        self, tenant_id: int, key: str, columns: Sequence[str], keys: Sequence[str]
    ) -> dict[str, tuple[Any, ...]]:
        """Return, for each of ``keys`` present in the tenant, its current ``columns``.

        Values come back as the driver gives them, with the column type's result processing
        for timestamps only; enum values stay strings, which compare equal to their
        ``StrEnum`` members.
        """
        dialect = self.connection.dialect
        processors = [
            self.table.c[name].type.dialect_impl(dialect).result_processor(dialect, None)
            if isinstance(self.table.c[name].type, DateTime | UTCDateTime)
            else None
            for name in columns
        ]
        names = ", ".join(self.quote(name) for name in [key, *columns])
        base = (
            f"SELECT {names} FROM {self.table_name} WHERE {self.quote('tenant_id')} = {self.mark}"
        )
        if len(keys) > 20_000:  # a large file: one scan of the tenant beats many lookups
            queries: list[tuple[str, tuple[Any, ...]]] = [(base, (tenant_id,))]
        else:
            queries = []
            for start in range(0, len(keys), 5000):
                chunk = tuple(keys[start : start + 5000])
                marks = ", ".join([self.mark] * len(chunk))
                queries.append((f"{base} AND {self.quote(key)} IN ({marks})", (tenant_id, *chunk)))
        found: dict[str, tuple[Any, ...]] = {}
        active = [(index, processor) for index, processor in enumerate(processors) if processor]
        for sql, parameters in queries:
            for row in self.connection.exec_driver_sql(sql, parameters).fetchall():
                values = list(row[1:])
                for index, processor in active:
                    values[index] = processor(values[index])
                found[row[0]] = tuple(values)
        return found

    def _send(
        self, sql: str, columns: Sequence[str], rows: Iterable[list[Any]], bound: Collection[str]
    ) -> None:
        dialect = self.connection.dialect
        converters: list[tuple[int, Callable[[Any], Any]]] = []
        for index, name in enumerate(columns):
            column_type = self.table.c[name].type
            if name in bound:
                continue
            if isinstance(column_type, SqlEnum):
                converters.append((index, _enum_value))
                continue
            processor = column_type.dialect_impl(dialect).bind_processor(dialect)
            if processor is not None:
                converters.append((index, processor))
        batch = []
        for row in rows:
            for index, convert in converters:
                value = row[index]
                if value is not None:
                    row[index] = convert(value)
            batch.append(tuple(row))
        if batch:
            self.connection.exec_driver_sql(sql, batch)

    def insert(
        self, columns: Sequence[str], rows: Iterable[list[Any]], bound: Collection[str] = ()
    ) -> None:
        """Insert ``rows`` (lists in ``columns`` order, converted in place).

        ``bound`` names the columns whose values already went through ``bound()``.
        """
        names = ", ".join(self.quote(name) for name in columns)
        marks = ", ".join([self.mark] * len(columns))
        sql = f"INSERT INTO {self.table_name} ({names}) VALUES ({marks})"
        self._send(sql, columns, rows, bound)

    def execute_many(self, sql: str, rows: Iterable[tuple[Any, ...]]) -> None:
        """Run ``sql`` (``?`` placeholders) once per row on the driver's cursor, rows as given.

        The rows go to the driver as they are (already bound: plain strings, numbers and
        ``bound()`` values) and may be a generator, so millions of them are never a list.
        """
        if self.mark != "?":
            sql = sql.replace("%", "%%").replace("?", self.mark)
        cursor = self.connection.connection.cursor()  # the DBAPI cursor: same transaction
        try:
            cursor.executemany(sql, rows)  # type: ignore[arg-type]  # both drivers take iterables
        finally:
            cursor.close()

    def update(
        self,
        columns: Sequence[str],
        keys: Sequence[str],
        rows: Iterable[list[Any]],
        bound: Collection[str] = (),
    ) -> None:
        """Update ``columns`` of the rows matching ``keys``; each row is columns then keys."""
        assignments = ", ".join(f"{self.quote(name)} = {self.mark}" for name in columns)
        condition = " AND ".join(f"{self.quote(name)} = {self.mark}" for name in keys)
        sql = f"UPDATE {self.table_name} SET {assignments} WHERE {condition}"
        self._send(sql, [*columns, *keys], rows, bound)


def driver_rows(
    connection: Connection, sql: str, parameters: tuple[Any, ...]
) -> list[tuple[Any, ...]]:
    """Return the rows of ``sql`` (``?`` placeholders) as the driver gives them: plain tuples.

    No result processing: enum columns come back as their values, timestamps as the driver
    stores them. For reads of millions of rows whose columns need no conversion.
    """
    if connection.dialect.paramstyle != "qmark":
        sql = sql.replace("%", "%%").replace("?", "%s")
    cursor = connection.connection.cursor()  # the DBAPI cursor: same transaction, no Row objects
    try:
        cursor.execute(sql, parameters)
        return list(cursor.fetchall())
    finally:
        cursor.close()


def _enum_value(value: Any) -> Any:
    return value.value if isinstance(value, Enum) else value


@contextmanager
def paused_gc() -> Iterator[None]:
    """Hold the cyclic garbage collector off while millions of rows become Python objects.

    Each full collection walks every live object, and building millions of tuples triggers
    one again and again. The rows and tuples made meanwhile hold no cycles, so reference
    counting frees them all the same; collection resumes when the last of overlapping holders
    (threads of one server) is done, if it was on before the first. Also a decorator.
    """
    global _gc_holders, _gc_was_enabled
    with _gc_lock:
        if _gc_holders == 0:
            _gc_was_enabled = gc.isenabled()
            gc.disable()
        _gc_holders += 1
    try:
        yield
    finally:
        with _gc_lock:
            _gc_holders -= 1
            if _gc_holders == 0 and _gc_was_enabled:
                gc.enable()


_gc_lock = threading.Lock()
_gc_holders = 0
_gc_was_enabled = True
