#!/usr/bin/env bash
# Set up a PostgreSQL server for Oncoboard: the database and its owner, the schema (applied by
# Oncoboard itself), the site roles (roles.sql), the users in their roles, and TLS.
# See README.md beside this script. Run it from any machine that reaches the server, with psql
# and Oncoboard installed; the administrator's password comes from ~/.pgpass (or PGPASSFILE),
# never from the command line.
#
#   setup-database.sh --host db.example.local [--port 5432] [--admin postgres]
#                     [--database oncoboard] [--owner oncoboard_owner]
#                     [--user LOGIN:ROLE[,ROLE...]]...
#                     [--tls-cert /etc/ssl/oncoboard/server.crt --tls-key /etc/ssl/.../server.key]
#                     [--oncoboard "oncoboard"]
#
# ROLE is one of coordinator, clinician, radiologist, admin. The owner's password, when the
# server asks for one, is read from ONCOBOARD_OWNER_PASSWORD (set on the owner when it is
# created, used for the migrations and roles.sql). Users get no password here: each sets theirs
# (`\password` in psql) or the site uses Kerberos/GSSAPI in pg_hba.conf.
# The TLS files are paths ON THE SERVER, readable by the postgres account (key mode 0600).
# Running it again is harmless: what exists is kept, grants are idempotent.
set -euo pipefail

HOST=127.0.0.1 PORT=5432 ADMIN=postgres DATABASE=oncoboard OWNER=oncoboard_owner
ONCOBOARD=oncoboard TLS_CERT="" TLS_KEY="" USERS=()
HERE=$(cd "$(dirname "$0")" && pwd)

die() { echo "setup-database: error: $*" >&2; exit 2; }
while [ $# -gt 0 ]; do
    case "$1" in
        --host) HOST=$2; shift 2 ;;
        --port) PORT=$2; shift 2 ;;
        --admin) ADMIN=$2; shift 2 ;;
        --database) DATABASE=$2; shift 2 ;;
        --owner) OWNER=$2; shift 2 ;;
        --user) USERS+=("$2"); shift 2 ;;
        --tls-cert) TLS_CERT=$2; shift 2 ;;
        --tls-key) TLS_KEY=$2; shift 2 ;;
        --oncoboard) ONCOBOARD=$2; shift 2 ;;
        -h|--help) sed -n '2,20p' "$0"; exit 0 ;;
        *) die "unknown option $1 (see --help)" ;;
    esac
done
name_ok() { [[ "$1" =~ ^[a-z_][a-z0-9_]*$ ]] || die "$2 '$1' must be lower-case letters, digits, _"; }
name_ok "$DATABASE" "database"; name_ok "$OWNER" "owner"
[ -n "$TLS_CERT" ] && [ -z "$TLS_KEY" ] && die "--tls-cert needs --tls-key"
[ -z "$TLS_CERT" ] && [ -n "$TLS_KEY" ] && die "--tls-key needs --tls-cert"
for spec in "${USERS[@]}"; do  # every --user checked before anything is changed
    login=${spec%%:*} roles=${spec#*:}
    name_ok "$login" "login"
    [ "$login" != "$spec" ] || die "--user $spec: give LOGIN:ROLE[,ROLE...]"
    IFS=, read -r -a list <<<"$roles"
    for role in "${list[@]}"; do
        case "$role" in coordinator|clinician|radiologist|admin) ;;
            *) die "--user $spec: unknown role '$role' (coordinator, clinician, radiologist, admin)" ;;
        esac
    done
done
command -v psql >/dev/null || die "psql is not installed (apt-get install postgresql-client)"

admin_sql() {  # admin_sql DBNAME: run stdin as the administrator on DBNAME
    psql "postgresql://$ADMIN@$HOST:$PORT/$1" -X -q -v ON_ERROR_STOP=1 "${@:2}"
}
OWNER_URL="postgresql://$OWNER@$HOST:$PORT/$DATABASE"
as_owner() {  # as_owner COMMAND...: run with the owner's password, when one is given
    if [ -n "${ONCOBOARD_OWNER_PASSWORD:-}" ]; then
        PGPASSWORD=$ONCOBOARD_OWNER_PASSWORD "$@"
    else
        "$@"
    fi
}

echo "1/5 owner $OWNER and database $DATABASE"
admin_sql postgres -v owner="$OWNER" -v pw="${ONCOBOARD_OWNER_PASSWORD:-}" <<'SQL'
SELECT NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = :'owner') AS missing \gset
\if :missing
    CREATE ROLE :"owner" LOGIN;
\endif
SELECT :'pw' <> '' AS has_pw \gset
\if :has_pw
    ALTER ROLE :"owner" PASSWORD :'pw';
\endif
SQL
admin_sql postgres -v db="$DATABASE" -v owner="$OWNER" <<'SQL'
SELECT NOT EXISTS (SELECT 1 FROM pg_database WHERE datname = :'db') AS missing \gset
\if :missing
    CREATE DATABASE :"db" OWNER :"owner" ENCODING 'UTF8' TEMPLATE template0;
\endif
REVOKE ALL ON DATABASE :"db" FROM PUBLIC;
SQL
# the extensions the schema uses (created by the administrator: no superuser needed later)
admin_sql "$DATABASE" -v owner="$OWNER" <<'SQL'
CREATE EXTENSION IF NOT EXISTS unaccent;
CREATE EXTENSION IF NOT EXISTS pg_trgm;
ALTER SCHEMA public OWNER TO :"owner";
SQL

echo "2/5 schema (Oncoboard's migrations)"
# shellcheck disable=SC2086 # ONCOBOARD may be a command with arguments
as_owner $ONCOBOARD --database "$OWNER_URL" store migrate

echo "3/5 site roles and grants (roles.sql)"
# the roles are the server's, not the database's: made by the administrator, then the owner
# grants its tables to them
admin_sql postgres <<'SQL'
DO $$
DECLARE r text;
BEGIN
    FOREACH r IN ARRAY ARRAY['oncoboard_user', 'oncoboard_coordinator', 'oncoboard_clinician',
                             'oncoboard_radiologist', 'oncoboard_admin'] LOOP
        IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = r) THEN
            EXECUTE format('CREATE ROLE %I NOLOGIN', r);
        END IF;
    END LOOP;
END
$$;
GRANT oncoboard_user TO oncoboard_coordinator, oncoboard_clinician, oncoboard_radiologist,
    oncoboard_admin;
SQL
as_owner psql "$OWNER_URL" -X -q -v ON_ERROR_STOP=1 -f "$HERE/roles.sql"
admin_sql postgres -v db="$DATABASE" <<'SQL'
GRANT CONNECT ON DATABASE :"db" TO oncoboard_user;
SQL

echo "4/5 users"
for spec in "${USERS[@]}"; do
    login=${spec%%:*} roles=${spec#*:}
    IFS=, read -r -a list <<<"$roles"
    admin_sql postgres -v login="$login" <<'SQL'
SELECT NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = :'login') AS missing \gset
\if :missing
    CREATE ROLE :"login" LOGIN;
\endif
SQL
    for role in "${list[@]}"; do
        admin_sql postgres -v login="$login" -v role="oncoboard_$role" \
            <<<'GRANT :"role" TO :"login";'
    done
    echo "    $login: ${roles}"
done

echo "5/5 TLS"
if [ -n "$TLS_CERT" ]; then
    admin_sql postgres -v cert="$TLS_CERT" -v key="$TLS_KEY" <<'SQL'
ALTER SYSTEM SET ssl_cert_file = :'cert';
ALTER SYSTEM SET ssl_key_file = :'key';
ALTER SYSTEM SET ssl = on;
SELECT pg_reload_conf();
SQL
    # the reload is asynchronous: wait until a new connection is encrypted
    tls_on() {
        [ "$(PGSSLMODE=require admin_sql postgres -tA 2>/dev/null \
            <<<'SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid();')" = t ]
    }
    for _ in $(seq 50); do tls_on && break; sleep 0.2; done
    tls_on || die "the server did not turn TLS on: see its log (the certificate or key \
unreadable by the postgres account, or not a pair?)"
    echo "    ssl on ($TLS_CERT); require it in pg_hba.conf (hostssl), see README.md"
else
    echo "    skipped (no --tls-cert): connections are not encrypted"
fi
echo "done: workstations use [database] url = \"postgresql://$HOST:$PORT/$DATABASE\""
