#!/usr/bin/env bash
# Create the application's PostgreSQL role and database (idempotent).
# The role is neither superuser nor BYPASSRLS: superusers bypass row-level security, the second
# tenant wall. CREATEDB lets the test runner create its test database. See docs/deploy.md.
set -euo pipefail
PGHOST="${PGHOST:-127.0.0.1}" PGUSER="${PGUSER:-postgres}"
export PGHOST PGUSER
role="${PALISADE_DB_ROLE:-palisade}"
db="${PALISADE_DB_NAME:-palisade}"
psql -v ON_ERROR_STOP=1 -qtA -d postgres <<SQL
DO \$\$
BEGIN
  IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = '${role}') THEN
    CREATE ROLE "${role}" LOGIN NOSUPERUSER NOBYPASSRLS CREATEDB NOCREATEROLE;
  ELSE
    ALTER ROLE "${role}" NOSUPERUSER NOBYPASSRLS CREATEDB;
  END IF;
END
\$\$;
SQL
if ! psql -qtA -d postgres -c "SELECT 1 FROM pg_database WHERE datname = '${db}'" | grep -q 1; then
  psql -v ON_ERROR_STOP=1 -q -d postgres -c "CREATE DATABASE \"${db}\" OWNER \"${role}\""
fi
