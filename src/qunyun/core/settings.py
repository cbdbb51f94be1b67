"""Settings read from the environment (prefix ``QUNYUN_``), validated at start."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import Field, ValidationError, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from qunyun.core.errors import ConfigurationError


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
            f"QUNYUN_{'_'.join(str(part) for part in issue['loc']).upper()}: {issue['msg']}"
            for issue in error.errors()
        )
        raise ConfigurationError(f"配置有误 (bad configuration): {problems}") from error
