#!/bin/sh
# Initialize $PGDATA on first start (user, password, database from POSTGRES_*), then run postgres
# on 127.0.0.1:$PGPORT in the foreground. The cluster is UTF-8, as in the official image: MLflow
# stores run names such as "λ=0.01", which an SQL_ASCII cluster (initdb's default without a locale)
# refuses with a 500 on every child run.
set -eu
: "${POSTGRES_PASSWORD:?}" "${POSTGRES_USER:=postgres}" "${POSTGRES_DB:=$POSTGRES_USER}" "${PGPORT:=5432}"
mkdir -p "$PGDATA" /var/run/postgresql
chown -R postgres:postgres "$PGDATA" /var/run/postgresql
chmod 700 "$PGDATA"
if [ ! -s "$PGDATA/PG_VERSION" ]; then
  printf '%s\n' "$POSTGRES_PASSWORD" > /tmp/pwfile && chown postgres /tmp/pwfile
  runuser -u postgres -- initdb -D "$PGDATA" -U "$POSTGRES_USER" -E UTF8 --locale=C.UTF-8 --pwfile=/tmp/pwfile -A scram-sha-256 >/dev/null
  rm -f /tmp/pwfile
  runuser -u postgres -- pg_ctl -D "$PGDATA" -o "-c listen_addresses=127.0.0.1 -p $PGPORT" -w start >/dev/null
  PGPASSWORD="$POSTGRES_PASSWORD" runuser -u postgres -- psql -h 127.0.0.1 -p "$PGPORT" -U "$POSTGRES_USER" \
    -d postgres -v ON_ERROR_STOP=1 -c "CREATE DATABASE \"$POSTGRES_DB\"" >/dev/null
  runuser -u postgres -- pg_ctl -D "$PGDATA" -w stop >/dev/null
fi
exec runuser -u postgres -- postgres -D "$PGDATA" -c listen_addresses=127.0.0.1 -p "$PGPORT"
