"""Alembic environment: the metadata comes from kiosk_server.db.tables; the URL from the caller
(`kiosk-server migrate`), or from `-x url=...` on the alembic command line."""
from __future__ import annotations

from alembic import context
from sqlalchemy import DateTime

from kiosk_server.db.engine import make_engine
from kiosk_server.db.tables import UTCDateTime, in_dialect, metadata

config = context.config


def render_item(type_, obj, autogen_context):  # noqa: ANN001
    if type_ == "type" and isinstance(obj, UTCDateTime):
        return "sa.DateTime(timezone=True)"
    return False


def include_object(obj, _name, _type, _reflected, _compare_to):  # noqa: ANN001
    return in_dialect(obj, context.get_bind().dialect.name)


def run_migrations() -> None:
    connection = config.attributes.get("connection")
    if connection is None:
        url = context.get_x_argument(as_dictionary=True).get("url") or config.get_main_option("sqlalchemy.url")
        engine = make_engine(url)
        with engine.connect() as connection:
            _run(connection)
        engine.dispose()
    else:
        _run(connection)


def _run(connection) -> None:  # noqa: ANN001
    context.configure(connection=connection, target_metadata=metadata, compare_type=True,
                      render_as_batch=connection.dialect.name == "sqlite", render_item=render_item,
                      include_object=include_object)
    with context.begin_transaction():
        context.run_migrations()


run_migrations()
