"""Alembic's entry point for the registry schema.

Shipyard runs migrations only programmatically (``shipyard.registry.sql.migrate``), which
hands over an open connection; there is no alembic.ini and this file configures no
logging, so running it never touches the caller's logging setup.
"""

from __future__ import annotations

from alembic import context
from sqlalchemy.engine import Connection

from shipyard.errors import ConfigError
from shipyard.registry.sql.tables import metadata


def _run() -> None:
    connection = context.config.attributes.get("connection")
    if not isinstance(connection, Connection):
        raise ConfigError(
            "registry migrations run through shipyard (RegistryStore or `shipyard` commands), not the alembic CLI",
            hint="an open SQLAlchemy connection must be passed in config.attributes['connection']",
        )
    context.configure(
        connection=connection,
        target_metadata=metadata,
        # SQLite cannot ALTER most things in place; batch mode rebuilds the table instead.
        render_as_batch=connection.dialect.name == "sqlite",
        compare_type=True,
    )
    with context.begin_transaction():
        context.run_migrations()


if context.is_offline_mode():
    raise ConfigError("offline (--sql) registry migrations are not supported")
_run()
