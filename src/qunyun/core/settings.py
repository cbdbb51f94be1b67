"""Settings read from the environment (prefix ``QUNYUN_``), validated at start."""

from __future__ import annotations

import re
from functools import lru_cache
from pathlib import Path
from typing import Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import Field, ValidationError, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from qunyun.core.errors import ConfigurationError

_LOCAL_TIME = re.compile(r"^([01]?\d|2[0-3]):[0-5]\d$")


class Settings(BaseSettings):
    """Where Qunyun keeps its data and how it shows time."""

    model_config = SettingsConfigDict(env_prefix="QUNYUN_", extra="ignore")

    home: Path = Field(
        default=Path("qunyun-data"),
        description="Folder for the embedded database, the demo files and import rejects.",
    )
    database_url: str | None = Field(
        default=None,
        description="SQLAlchemy URL of the OLTP database; unset means SQLite in QUNYUN_HOME.",
    )
    timezone: str = Field(
        default="Asia/Shanghai",
        description="Default time zone in which new tenants show and bucket time.",
    )
    secret_key: str | None = Field(
        default=None,
        description="Key that signs console sessions and API tokens; unset means a random key "
        "kept in QUNYUN_HOME/secret.key.",
    )

    group_max_members: int = Field(
        default=200,
        ge=2,
        description="Most customer members of a planned group (WeCom lets 200 join by QR code).",
    )
    group_min_members: int = Field(
        default=30,
        ge=1,
        description="Fewest customer members of a store group unless its territory is smaller.",
    )
    admin_max_groups: int = Field(
        default=100,
        ge=1,
        description="Most groups one group admin runs; groups beyond get no admin (audit says so).",
    )
    store_group_name: str = Field(
        default="{place}·{store_type}{tier}类·{rep_name}服务群 {number:02d}",
        description=(
            "Name template of new store groups; fields {place} {store_type} {tier} {rep_name} "
            "{rep_id} {number}."
        ),
    )
    vip_in_base_group: bool = Field(
        default=True,
        description="Whether VIP stores also stay in their base store group.",
    )

    redis_url: str | None = Field(
        default=None,
        description=(
            "Redis URL for hot counters (red-packet shares, stock, grab sets); unset keeps them "
            "in the SQL database."
        ),
    )
    redis_prefix: str = Field(
        default="qunyun:",
        min_length=1,
        max_length=64,
        description="Prefix of every Redis key, so that several deployments can share a Redis.",
    )
    order_cutoffs: str = Field(
        default="12:00,20:00",
        description="Local times at which 接龙 lists are cut off each day, for tenants without their own.",
    )
    analytics_engine: Literal["duckdb", "pyspark"] = Field(
        default="duckdb",
        description="Engine the analyses run on: duckdb in the process, or pyspark (Spark).",
    )
    spark_master: str = Field(
        default="local[*]",
        description="Spark master URL when the analytics engine is pyspark (local[*]: in process).",
    )
    spark_conf: str = Field(
        default="",
        description="More Spark settings as key=value pairs separated by commas.",
    )

    @field_validator("analytics_engine", mode="before")
    @classmethod
    def _engine_name(cls, value: object) -> object:
        return value.strip().lower() if isinstance(value, str) else value

    @field_validator("spark_master")
    @classmethod
    def _known_master(cls, value: str) -> str:
        master = value.strip()
        if not master.startswith(("local", "spark://", "yarn", "k8s://", "mesos://")):
            raise ValueError(
                f"unknown Spark master {value!r}: use local[*], local[N], spark://host:7077, "
                "yarn or k8s://…"
            )
        return master

    @field_validator("spark_conf")
    @classmethod
    def _spark_pairs(cls, value: str) -> str:
        for pair in (part.strip() for part in value.split(",")):
            key, sep, setting = pair.partition("=")
            if pair and (not sep or not key.strip().startswith("spark.") or not setting.strip()):
                raise ValueError(
                    f"{pair!r} is not a Spark setting: use spark.key=value pairs separated by "
                    "commas, e.g. spark.driver.memory=4g,spark.sql.shuffle.partitions=8"
                )
        return value.strip()

    @field_validator("redis_url")
    @classmethod
    def _known_redis(cls, value: str | None) -> str | None:
        if value is None or value.strip() == "":
            return None
        if not value.strip().startswith(("redis://", "rediss://", "unix://")):
            raise ValueError("use redis://host:6379/0, rediss://… or unix:///path")
        return value.strip()

    @field_validator("order_cutoffs")
    @classmethod
    def _cutoff_times(cls, value: str) -> str:
        parts = [part.strip() for part in value.replace("，", ",").split(",") if part.strip()]
        if not parts or not all(_LOCAL_TIME.match(part) for part in parts):
            raise ValueError(
                f"cutoffs must be local times HH:MM separated by commas, not {value!r}"
            )
        return ",".join(parts)

    @field_validator("store_group_name")
    @classmethod
    def _usable_template(cls, value: str) -> str:
        sample = {
            "place": "广州天河",
            "store_type": "便利店",
            "tier": "A",
            "rep_name": "张伟",
            "rep_id": "R0001",
            "number": 1,
        }
        try:
            name = value.format(**sample)
        except (KeyError, IndexError, ValueError) as error:
            raise ValueError(
                f"bad template {value!r} ({error}); use the fields {{place}} {{store_type}} "
                "{tier} {rep_name} {rep_id} {number}"
            ) from error
        if not name.strip():
            raise ValueError("the template gives an empty name")
        return value

    @model_validator(mode="after")
    def _sizes_fit(self) -> Settings:
        if 2 * self.group_min_members > self.group_max_members + 1:
            raise ValueError(
                f"QUNYUN_GROUP_MIN_MEMBERS {self.group_min_members} must be at most half of "
                f"QUNYUN_GROUP_MAX_MEMBERS + 1 ({(self.group_max_members + 1) // 2}): a territory of "
                f"{self.group_max_members + 1} stores needs two groups"
            )
        return self

    @field_validator("database_url")
    @classmethod
    def _known_database(cls, value: str | None) -> str | None:
        if value is None or value.strip() == "":
            return None
        scheme = value.split(":", 1)[0]
        if not scheme.startswith(("sqlite", "postgresql", "postgres")):
            raise ValueError(
                f"unsupported database {scheme!r}: use sqlite:///PATH or postgresql://…"
            )
        return value.strip()

    @field_validator("secret_key")
    @classmethod
    def _long_secret(cls, value: str | None) -> str | None:
        if value is None or value.strip() == "":
            return None
        if len(value.strip()) < 32:
            raise ValueError("the secret key must be at least 32 characters long")
        return value.strip()

    @field_validator("timezone")
    @classmethod
    def _known_timezone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError) as error:
            raise ValueError(f"unknown time zone {value!r}") from error
        return value

    @property
    def spark_options(self) -> dict[str, str]:
        """Return ``spark_conf`` as a mapping of Spark settings."""
        pairs = (part.partition("=") for part in self.spark_conf.split(",") if part.strip())
        return {key.strip(): setting.strip() for key, _, setting in pairs}

    @property
    def resolved_database_url(self) -> str:
        """Return the database URL with the driver Qunyun uses spelled out."""
        if self.database_url is None:
            return f"sqlite:///{(self.home / 'qunyun.db').resolve()}"
        url = self.database_url
        for prefix in ("postgres://", "postgresql://"):
            if url.startswith(prefix):
                return "postgresql+psycopg://" + url[len(prefix) :]
        return url


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    """Return the process settings; raise ConfigurationError when the environment is bad."""
    try:
        return Settings()
    except ValidationError as error:
        problems = "; ".join(
            (
                f"QUNYUN_{'_'.join(str(part) for part in issue['loc']).upper()}: "
                if issue["loc"]
                else ""
            )
            + issue["msg"].removeprefix("Value error, ")
            for issue in error.errors()
        )
        raise ConfigurationError(f"配置有误 (bad configuration): {problems}") from error
