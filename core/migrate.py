"""Run the Alembic migrations shipped inside the package."""
from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

# Alembic logs one INFO line per built-in autogenerate plugin the moment it is
# imported: noise to anyone reading a start-up, and nothing about our schema.
logging.getLogger("alembic.runtime.plugins").setLevel(logging.WARNING)

from alembic import command  # noqa: E402  (after the logger is quietened)
from alembic.config import Config  # noqa: E402

__all__ = ["alembic_config", "upgrade", "downgrade", "current_revision"]

_HERE = Path(__file__).parent / "migrations"


def alembic_config(url: str) -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", str(_HERE))
    # '%' is ConfigParser interpolation; escape it so passwords survive
    cfg.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    return cfg


@contextmanager
def _quiet() -> Iterator[None]:
    """Alembic's own INFO lines ("Context impl ...", "Will assume ...",
    "Running upgrade ...") off for the block: ``clientnest run`` wants its
    banner to be the first thing a newcomer reads."""
    logger = logging.getLogger("alembic")
    before = logger.level
    logger.setLevel(logging.WARNING)
    try:
        yield
    finally:
        logger.setLevel(before)


def upgrade(url: str, revision: str = "head", *, quiet: bool = False) -> None:
    """Apply migrations up to ``revision``; ``quiet`` keeps Alembic's INFO lines out of the log."""
    if quiet:
        with _quiet():
            command.upgrade(alembic_config(url), revision)
        return
    command.upgrade(alembic_config(url), revision)


def downgrade(url: str, revision: str) -> None:
    command.downgrade(alembic_config(url), revision)


def current_revision(url: str) -> str | None:
    from alembic.runtime.migration import MigrationContext
    from sqlalchemy import create_engine

    engine = create_engine(url)
    try:
        with engine.connect() as conn:
            return MigrationContext.configure(conn).get_current_revision()
    finally:
        engine.dispose()
