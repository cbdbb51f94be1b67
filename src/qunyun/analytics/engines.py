"""The engine the analyses run on: DuckDB in the process (default) or Spark, through Ibis.

Every analysis is one Ibis expression over the lake's tables; only opening the tables depends
on the engine (``QUNYUN_ANALYTICS_ENGINE``). DuckDB reads the Parquet files in the process.
``pyspark`` hands the same files to a Spark session (``QUNYUN_SPARK_MASTER``, ``local[*]`` by
default: Spark inside this process's JVM, on every core; ``QUNYUN_SPARK_CONF`` adds Spark
settings) and the same expressions compile to Spark SQL. One Spark session serves the whole process (the JVM starts once, in a few seconds);
each opened lake gets its own child session so that the table names of two lakes never meet.
Imports (deduplication, keys, the per-day rollups) run in the process: they write a day at a time.
"""

from __future__ import annotations

import os
import shutil
import threading
from typing import Any

import ibis
from ibis import BaseBackend
from ibis.expr import schema as sch
from ibis.expr.types import Table

from qunyun.core.errors import ConfigurationError
from qunyun.core.settings import get_settings

ENGINES = ("duckdb", "pyspark")

_SPARK_CONF = {
    "spark.ui.enabled": "false",
    "spark.ui.showConsoleProgress": "false",
    "spark.sql.session.timeZone": "UTC",
    "spark.sql.execution.arrow.pyspark.enabled": "true",
}

_spark: Any = None
_spark_lock = threading.Lock()


def engine_name(engine: str | None = None) -> str:
    """Return the engine to use: ``engine`` when given, else ``QUNYUN_ANALYTICS_ENGINE``."""
    name = get_settings().analytics_engine if engine is None else engine.strip().lower()
    if name not in ENGINES:
        raise ConfigurationError(
            f"未知的分析引擎 (unknown analytics engine) {engine!r}: use one of {', '.join(ENGINES)}"
        )
    return name


def connect(engine: str | None = None) -> BaseBackend:
    """Return a new connection of the engine (see ``engine_name``)."""
    if engine_name(engine) == "duckdb":
        backend = ibis.duckdb.connect()
        backend.raw_sql("SET preserve_insertion_order = false")
        return backend
    return ibis.pyspark.connect(spark_session().newSession())


def spark_session() -> Any:
    """Return the process's Spark session, starting it (and its JVM) on the first call.

    Raise ConfigurationError when pyspark or Java is missing, or Spark does not start.
    """
    global _spark
    with _spark_lock:
        if _spark is None:
            _spark = _start_spark()
        return _spark


def _start_spark() -> Any:
    try:
        from pyspark.sql import SparkSession
    except ImportError as error:
        raise ConfigurationError(
            f"QUNYUN_ANALYTICS_ENGINE=pyspark needs pyspark: pip install 'qunyun[spark]' ({error})"
        ) from error
    java_home = os.environ.get("JAVA_HOME")
    if shutil.which("java") is None and not (java_home and os.path.exists(java_home)):
        raise ConfigurationError(
            "QUNYUN_ANALYTICS_ENGINE=pyspark needs Java 17 (java on PATH or JAVA_HOME); "
            "on Debian: apt-get install default-jre-headless"
        )
    settings = get_settings()
    builder = SparkSession.builder.master(settings.spark_master).appName("qunyun")
    conf = dict(_SPARK_CONF)
    if settings.spark_master.startswith("local"):
        conf |= {
            "spark.driver.host": "127.0.0.1",
            "spark.driver.bindAddress": "127.0.0.1",
            "spark.sql.warehouse.dir": str((settings.home / "spark-warehouse").resolve()),
        }
    conf |= settings.spark_options
    for key, value in conf.items():
        builder = builder.config(key, value)
    try:
        session = builder.getOrCreate()
    except Exception as error:  # Spark reports a JVM that will not start in many ways
        raise ConfigurationError(
            f"Spark did not start (QUNYUN_SPARK_MASTER={settings.spark_master}): {error}"
        ) from error
    session.sparkContext.setLogLevel("ERROR")
    return session


def stop_spark() -> None:
    """Stop the process's Spark session if one runs (the next analysis starts a new one)."""
    global _spark
    with _spark_lock:
        if _spark is not None:
            _spark.stop()
            _spark = None


def read_parquet(backend: BaseBackend, files: list[str], name: str) -> Table:
    """Return the Parquet ``files`` (all of one schema) as the table ``name`` of ``backend``.

    On Spark a timestamp is an instant shown in the session's zone (UTC); Ibis sees it
    without a zone, so it is declared UTC as DuckDB reads it.
    """
    if backend.name == "duckdb":
        return backend.read_parquet(files, table_name=name, hive_partitioning=False)
    session = backend._session
    session.read.parquet(*files).createOrReplaceTempView(name)
    table = backend.table(name)
    naive = {
        column: table[column].cast(ibis.dtype("timestamp('UTC')"))
        for column, dtype in table.schema().items()
        if dtype.is_timestamp() and dtype.timezone is None
    }
    return table.mutate(**naive) if naive else table


def empty_table(backend: BaseBackend, name: str, schema: sch.Schema) -> Table:
    """Return an empty table ``name`` of ``schema`` on ``backend`` (a lake without files)."""
    if backend.name == "duckdb":
        return backend.create_table(name, schema=schema)
    from ibis.backends.pyspark.datatypes import PySparkSchema

    session = backend._session
    session.createDataFrame([], PySparkSchema.from_ibis(schema)).createOrReplaceTempView(name)
    table = backend.table(name)
    return table.select(*(table[column].cast(dtype) for column, dtype in schema.items()))
