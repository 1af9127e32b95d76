"""Alembic environment: runs on the connection cdrex.store.migrate hands over."""

from alembic import context

from cdrex.store.schema import metadata

connection = context.config.attributes["connection"]
context.configure(
    connection=connection,
    target_metadata=metadata,
    render_as_batch=connection.dialect.name == "sqlite",  # SQLite can't ALTER most things
)
with context.begin_transaction():
    if connection.dialect.name == "postgresql":
        # Several processes may start at once; only one migrates, the others wait.
        connection.exec_driver_sql("SELECT pg_advisory_xact_lock(7428201)")
    context.run_migrations()
