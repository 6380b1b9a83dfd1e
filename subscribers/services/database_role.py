"""The PostgreSQL role the running product connects as: it reads and writes the application's
tables, but may only append to the consent log. The role that owns the tables (and runs the
migrations) stays with the operator; the triggers that refuse UPDATE, DELETE and TRUNCATE on the
consent log can be disabled by an owner, never by this role."""

from __future__ import annotations

from django.db import connections
from psycopg import sql

from subscribers.models import ConsentRecord

# Rows that are proof: appended, never changed, never removed.
APPEND_ONLY_MODELS = (ConsentRecord,)


def database_role_grant(*, role: str, password: str | None = None, using: str = "default") -> None:
    """Create `role` (or update it) with LOGIN, grant it SELECT/INSERT/UPDATE/DELETE on every
    table of the current schema, only SELECT/INSERT on the append-only ones, and USAGE on the
    sequences; tables later migrations create get the same through default privileges.
    Idempotent: run it again after a migration that adds an append-only table."""
    connection = connections[using]
    if connection.vendor != "postgresql":
        raise ValueError("A runtime role exists only on PostgreSQL.")
    name = sql.Identifier(role)
    login = (
        sql.SQL("LOGIN PASSWORD {}").format(sql.Literal(password)) if password else sql.SQL("LOGIN")
    )
    append_only = [sql.Identifier(model._meta.db_table) for model in APPEND_ONLY_MODELS]
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1 FROM pg_roles WHERE rolname = %s", [role])
        verb = sql.SQL("ALTER ROLE" if cursor.fetchone() else "CREATE ROLE")
        cursor.execute("SELECT current_database(), current_schema(), current_user")
        database, schema, owner = (sql.Identifier(value) for value in cursor.fetchone())
        statements = [
            sql.SQL("{} {} {} NOSUPERUSER NOCREATEDB NOCREATEROLE").format(verb, name, login),
            sql.SQL("GRANT CONNECT ON DATABASE {} TO {}").format(database, name),
            sql.SQL("GRANT USAGE ON SCHEMA {} TO {}").format(schema, name),
            sql.SQL("GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA {} TO {}").format(
                schema, name
            ),
            sql.SQL("GRANT USAGE, SELECT ON ALL SEQUENCES IN SCHEMA {} TO {}").format(schema, name),
            sql.SQL(
                "ALTER DEFAULT PRIVILEGES FOR ROLE {} IN SCHEMA {} "
                "GRANT SELECT, INSERT, UPDATE, DELETE ON TABLES TO {}"
            ).format(owner, schema, name),
            sql.SQL(
                "ALTER DEFAULT PRIVILEGES FOR ROLE {} IN SCHEMA {} "
                "GRANT USAGE, SELECT ON SEQUENCES TO {}"
            ).format(owner, schema, name),
            *(
                sql.SQL("REVOKE UPDATE, DELETE, TRUNCATE ON {} FROM {}").format(table, name)
                for table in append_only
            ),
        ]
        raw = connection.connection
        for statement in statements:
            cursor.execute(statement.as_string(raw))
