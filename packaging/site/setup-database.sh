#!/usr/bin/env bash
# Set up a PostgreSQL server for Oncoboard: the database and its owner, the schema (applied by
# Oncoboard itself), the site roles (roles.sql), the users in their roles, TLS, Kerberos, and the
# pg_hba.conf lines that say who may connect and how.
# See README.md beside this script. Run it from any machine that reaches the server, with psql
# and Oncoboard installed; the administrator's password comes from ~/.pgpass (or PGPASSFILE),
# never from the command line.
#
#   setup-database.sh --host db.example.local [--port 5432] [--admin postgres]
#                     [--database oncoboard] [--owner oncoboard_owner]
#                     [--user LOGIN:ROLE[,ROLE...]]...
#                     [--tls-cert /etc/ssl/oncoboard/server.crt --tls-key /etc/ssl/.../server.key]
#                     [--kerberos REALM [--keytab /etc/postgresql/krb5.keytab]]
#                     [--clients CIDR] [--hba-file /etc/postgresql/15/main/pg_hba.conf]
#                     [--oncoboard "oncoboard"]
#
# ROLE is one of coordinator, clinician, radiologist, admin. The owner's password, when the
# server asks for one, is read from ONCOBOARD_OWNER_PASSWORD (set on the owner when it is
# created, used for the migrations and roles.sql). Users get no password here: each sets theirs
# (`\password` in psql) or the site uses Kerberos/GSSAPI in pg_hba.conf.
# The TLS files and the keytab are paths ON THE SERVER, readable by the postgres account (mode
# 0600). --kerberos REALM admits the site's users by their Kerberos ticket (principal
# LOGIN@REALM, no password); the keytab holds the key of postgres/HOST@REALM.
# The pg_hba.conf lines (TLS with scram-sha-256 for password logins, GSSAPI for Kerberos, the
# owner and the administrator, everything else to the database rejected; from --clients, default
# any address) are printed; with --hba-file (run on the server, as root or postgres) they are
# written at the top of that file, replacing those of an earlier run, checked by the server and
# loaded. Running it again is harmless: what exists is kept, grants are idempotent.
set -euo pipefail

HOST=127.0.0.1 PORT=5432 ADMIN=postgres DATABASE=oncoboard OWNER=oncoboard_owner
ONCOBOARD=oncoboard TLS_CERT="" TLS_KEY="" USERS=() REALM="" KEYTAB="" CLIENTS=all HBA_FILE=""
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
        --kerberos) REALM=$2; shift 2 ;;
        --keytab) KEYTAB=$2; shift 2 ;;
        --clients) CLIENTS=$2; shift 2 ;;
        --hba-file) HBA_FILE=$2; shift 2 ;;
        --oncoboard) ONCOBOARD=$2; shift 2 ;;
        -h|--help) sed -n '2,28p' "$0"; exit 0 ;;
        *) die "unknown option $1 (see --help)" ;;
    esac
done
name_ok() { [[ "$1" =~ ^[a-z_][a-z0-9_]*$ ]] || die "$2 '$1' must be lower-case letters, digits, _"; }
name_ok "$DATABASE" "database"; name_ok "$OWNER" "owner"
[ -n "$TLS_CERT" ] && [ -z "$TLS_KEY" ] && die "--tls-cert needs --tls-key"
[ -z "$TLS_CERT" ] && [ -n "$TLS_KEY" ] && die "--tls-key needs --tls-cert"
[ -n "$KEYTAB" ] && [ -z "$REALM" ] && die "--keytab needs --kerberos REALM"
[ -z "$REALM" ] || [[ "$REALM" =~ ^[A-Z0-9][A-Z0-9.-]*$ ]] \
    || die "realm '$REALM' must be upper-case letters, digits, dots, dashes (e.g. HOSPITAL.EXAMPLE)"
[[ "$CLIENTS" = all || "$CLIENTS" =~ ^[0-9a-fA-F.:]+/[0-9]+$ ]] \
    || die "--clients '$CLIENTS' must be an address range (CIDR, e.g. 10.1.0.0/16) or all"
name_ok "$ADMIN" "admin"
if [ -n "$HBA_FILE" ]; then
    [ -f "$HBA_FILE" ] || die "--hba-file $HBA_FILE: no such file (run the script on the server)"
    [ -w "$HBA_FILE" ] || die "--hba-file $HBA_FILE: not writable (run as root or postgres)"
fi
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

echo "1/6 owner $OWNER and database $DATABASE"
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

echo "2/6 schema (Oncoboard's migrations)"
# shellcheck disable=SC2086 # ONCOBOARD may be a command with arguments
as_owner $ONCOBOARD --database "$OWNER_URL" store migrate

echo "3/6 site roles and grants (roles.sql)"
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

echo "4/6 users"
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

echo "5/6 TLS and Kerberos"
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
    echo "    TLS skipped (no --tls-cert): only Kerberos (GSSAPI-encrypted) connections will pass"
fi
if [ -n "$KEYTAB" ]; then
    admin_sql postgres -v keytab="$KEYTAB" <<'SQL'
ALTER SYSTEM SET krb_server_keyfile = :'keytab';
SELECT pg_reload_conf();
SQL
fi
[ -n "$REALM" ] && echo "    Kerberos: principals of $REALM sign in as their login (no password)"

echo "6/6 who may connect (pg_hba.conf)"
# first matching line wins: the block goes at the top of the file
users=+oncoboard_user
hba_block() {
    echo "$BEGIN_MARK"
    printf '%-11s %-12s %-28s %-18s %s\n' "# TYPE" DATABASE USER ADDRESS METHOD
    if [ -n "$REALM" ]; then
        # Kerberos: the site's users by ticket, encrypted by GSSAPI or by TLS; no password
        printf '%-11s %-12s %-28s %-18s %s\n' \
            hostgssenc "$DATABASE" "$users" "$CLIENTS" "gss include_realm=0 krb_realm=$REALM" \
            hostssl "$DATABASE" "$users" "$CLIENTS" "gss include_realm=0 krb_realm=$REALM" \
            hostssl "$DATABASE" "$OWNER,$ADMIN" "$CLIENTS" scram-sha-256
    else
        printf '%-11s %-12s %-28s %-18s %s\n' \
            hostssl "$DATABASE" "$users" "$CLIENTS" scram-sha-256 \
            hostssl "$DATABASE" "$OWNER,$ADMIN" "$CLIENTS" scram-sha-256
    fi
    # the rest to this database: refused (unencrypted, no site role, other addresses)
    printf '%-11s %-12s %-28s %-18s %s\n' host "$DATABASE" all all reject
    echo "$END_MARK"
}
BEGIN_MARK="# BEGIN oncoboard $DATABASE (packaging/site/setup-database.sh; edits inside are replaced)"
END_MARK="# END oncoboard $DATABASE"
if [ -z "$HBA_FILE" ]; then
    echo "    add these lines at the TOP of the server's pg_hba.conf, then SELECT pg_reload_conf():"
    hba_block | sed 's/^/    /'
else
    # the file the server reads, not a copy elsewhere (the script runs on the server)
    in_use=$(admin_sql postgres -tA <<<'SHOW hba_file;')
    [ "$(realpath "$HBA_FILE")" = "$(realpath "$in_use" 2>/dev/null)" ] \
        || die "--hba-file $HBA_FILE is not the file the server reads ($in_use): run the script \
on the server, naming that file"
    backup=$(mktemp "${TMPDIR:-/tmp}/pg_hba.XXXXXX")
    cat "$HBA_FILE" >"$backup"
    # our block first, then the file without the block of an earlier run (in place: the owner
    # and mode of the file stay)
    { hba_block; awk -v b="$BEGIN_MARK" -v e="$END_MARK" \
        '$0 == b {skip = 1; next} $0 == e {skip = 0; next} !skip' "$backup"; } >"$HBA_FILE.new.$$"
    cat "$HBA_FILE.new.$$" >"$HBA_FILE"
    rm -f "$HBA_FILE.new.$$"
    # the server reads the file as it is on disk: a line it cannot parse puts the old one back
    errors=$(admin_sql postgres -tA <<'SQL'
SELECT string_agg(line_number || ': ' || error, '; ') FROM pg_hba_file_rules
WHERE error IS NOT NULL;
SQL
)
    if [ -n "$errors" ]; then
        cat "$backup" >"$HBA_FILE"
        rm -f "$backup"
        die "the server cannot read the new $HBA_FILE ($errors): the previous file is back"
    fi
    rm -f "$backup"
    admin_sql postgres -tA <<<'SELECT pg_reload_conf();' >/dev/null
    echo "    $HBA_FILE: the Oncoboard lines written at the top, configuration reloaded"
    hba_block | sed 's/^/    /'
fi
echo "done: workstations use [database] url = \"postgresql://$HOST:$PORT/$DATABASE\""
