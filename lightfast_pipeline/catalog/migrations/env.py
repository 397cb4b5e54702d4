"""Alembic environment: runs on the connection handed in by ``catalog.db.migrate`` or on the configured URL."""

from alembic import context
from sqlalchemy import create_engine

from lightfast_pipeline.catalog.db import VERSION_TABLE
from lightfast_pipeline.catalog.models import Base

config = context.config
target_metadata = Base.metadata


def _run(connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=target_metadata,
        render_as_batch=connection.dialect.name == "sqlite",
        compare_type=True,
        version_table=VERSION_TABLE,
    )
    with context.begin_transaction():
        context.run_migrations()


connection = config.attributes.get("connection")
if connection is not None:
    _run(connection)
else:
    engine = create_engine(config.get_main_option("sqlalchemy.url"))
    with engine.begin() as conn:
        _run(conn)
