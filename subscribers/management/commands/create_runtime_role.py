"""Create the PostgreSQL role the product runs as: everything but changing the consent log."""

import os

from django.core.management.base import BaseCommand, CommandError
from django.db import connection

from subscribers.services.database_role import database_role_grant


class Command(BaseCommand):
    help = (
        "Create (or update) the PostgreSQL role the web and workers connect as: read and write "
        "the tables, only append to the consent log. Run it as the tables' owner, after migrate."
    )

    def add_arguments(self, parser):
        parser.add_argument("--role", required=True, help="the role's name, e.g. infocomune_app")
        parser.add_argument(
            "--password-env",
            metavar="VARIABLE",
            help="an environment variable holding the role's password (never on the command line)",
        )

    def handle(self, *args, role: str, password_env: str | None, **options):
        if connection.vendor != "postgresql":
            raise CommandError("A runtime role needs PostgreSQL (DATABASE_URL=postgres://…).")
        password = None
        if password_env:
            password = os.environ.get(password_env, "")
            if not password:
                raise CommandError(f"The environment variable {password_env} is empty or unset.")
        database_role_grant(role=role, password=password)
        self.stdout.write(
            f"Role {role!r} may read and write the tables and only append to the consent log. "
            "Point DATABASE_URL of the web and the workers at it; keep running migrate (and "
            "this command after it) as the owner."
        )
