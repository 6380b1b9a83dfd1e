#!/bin/sh
# Run by the postgres image once, when its volume is empty (docker-compose.yml mounts this folder
# on /docker-entrypoint-initdb.d): the role that owns the product's tables and runs `migrate`.
# It is no superuser; CREATEROLE lets it create and refresh the runtime role the web, the
# workers and beat connect as (manage.py create_runtime_role, in deploy/migrate.sh).
set -eu
owner_password=$(cat "${DATABASE_OWNER_PASSWORD_FILE:?the file holding the owner role's password}")
database="${POSTGRES_DB:?the database the image created}"
psql -v ON_ERROR_STOP=1 --username "${POSTGRES_USER:-postgres}" --dbname postgres \
     -v owner_password="$owner_password" -v database="$database" <<'SQL'
CREATE ROLE infocomune LOGIN CREATEROLE NOSUPERUSER NOCREATEDB PASSWORD :'owner_password';
ALTER DATABASE :"database" OWNER TO infocomune;
-- Only the roles granted it connect (the runtime role gets CONNECT from its command).
REVOKE CONNECT ON DATABASE :"database" FROM PUBLIC;
SQL
