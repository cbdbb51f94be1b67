"""Bulk writes at driver speed for imports of millions of rows.

SQLAlchemy's per-row parameter processing costs more than SQLite's own insert at this size,
so rows are bound once here (enums to their values, constants processed once through the
column's type) and sent with the driver's ``executemany``. Used only inside an open
transaction; the caller's unit of work commits or rolls back.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from enum import Enum
from typing import Any

from sqlalchemy import Connection, Table
from sqlalchemy import Enum as SqlEnum


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
        processor = self.table.c[column].type.bind_processor(self.connection.dialect)
        return processor(value) if processor is not None else value

    def _converter(self, columns: Sequence[str]) -> Callable[[list[Any]], None]:
        enum_positions = [
            index
            for index, name in enumerate(columns)
            if isinstance(self.table.c[name].type, SqlEnum)
        ]

        def convert(row: list[Any]) -> None:
            for index in enum_positions:
                value = row[index]
                if isinstance(value, Enum):
                    row[index] = value.value

        return convert

    def insert(self, columns: Sequence[str], rows: Iterable[list[Any]]) -> None:
        """Insert ``rows`` (lists in ``columns`` order; enums are converted in place)."""
        convert = self._converter(columns)
        names = ", ".join(self.quote(name) for name in columns)
        marks = ", ".join([self.mark] * len(columns))
        sql = f"INSERT INTO {self.table_name} ({names}) VALUES ({marks})"
        batch = []
        for row in rows:
            convert(row)
            batch.append(tuple(row))
        if batch:
            self.connection.exec_driver_sql(sql, batch)

    def update(
        self, columns: Sequence[str], keys: Sequence[str], rows: Iterable[list[Any]]
    ) -> None:
        """Update ``columns`` of the rows matching ``keys``; each row is columns then keys."""
        convert = self._converter([*columns, *keys])
        assignments = ", ".join(f"{self.quote(name)} = {self.mark}" for name in columns)
        condition = " AND ".join(f"{self.quote(name)} = {self.mark}" for name in keys)
        sql = f"UPDATE {self.table_name} SET {assignments} WHERE {condition}"
        batch = []
        for row in rows:
            convert(row)
            batch.append(tuple(row))
        if batch:
            self.connection.exec_driver_sql(sql, batch)
