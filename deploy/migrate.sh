#!/bin/sh
# The one-shot before the application starts (docker-compose.yml's `migrate`; at every upgrade
# too), as the role that owns the tables: apply the migrations, create or refresh the runtime
# role (every table but only appending to the consent log), make sure a privacy notice and an
# administrator exist. DATABASE_URL names the owner without a password: it is read from
# DATABASE_OWNER_PASSWORD_FILE and handed to libpq as PGPASSWORD, so that it never stands in a
# URL or in the environment of the services that serve the public.
set -eu
cd "$(dirname "$0")/.."
if [ -n "${DATABASE_OWNER_PASSWORD_FILE:-}" ]; then
  PGPASSWORD=$(cat "$DATABASE_OWNER_PASSWORD_FILE")
  export PGPASSWORD
fi
: "${DATABASE_APP_PASSWORD:?the runtime role's password (in .env)}"
python manage.py migrate --noinput
python manage.py create_runtime_role --role infocomune_app --password-env DATABASE_APP_PASSWORD
python manage.py bootstrap
