-- Run once by the postgres image when its data directory is empty
-- (/docker-entrypoint-initdb.d/), as the superuser, in the service's database POSTGRES_DB.
--
-- The service gets a role of its own (APP_DB_ROLE, password APP_DB_PASSWORD): it can log
-- in to its database only, owns one schema named after it (where the migrations create
-- every table, and alembic_version) and nothing else: no superuser, no CREATEDB or
-- CREATEROLE, no CREATE on the database or on the public schema. The superuser's
-- password (POSTGRES_PASSWORD) stays with this container.
--
-- Values come from the environment with psql's \getenv and are quoted by psql
-- (:'...' a literal, :"..." an identifier), so a password cannot break the SQL.
\set ON_ERROR_STOP on
\getenv app_role APP_DB_ROLE
\getenv app_password APP_DB_PASSWORD
\getenv app_database POSTGRES_DB

CREATE ROLE :"app_role" LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE NOREPLICATION NOBYPASSRLS
    PASSWORD :'app_password';

-- Only the service's role may connect to its database; nobody but the superuser to the others.
REVOKE ALL ON DATABASE :"app_database" FROM PUBLIC;
REVOKE ALL ON DATABASE postgres FROM PUBLIC;
REVOKE ALL ON DATABASE template1 FROM PUBLIC;
GRANT CONNECT, TEMPORARY ON DATABASE :"app_database" TO :"app_role";

-- public holds only what the superuser installs there (extensions such as pg_trgm):
-- readable, not writable.
REVOKE ALL ON SCHEMA public FROM PUBLIC;
GRANT USAGE ON SCHEMA public TO :"app_role";

CREATE SCHEMA :"app_role" AUTHORIZATION :"app_role";
ALTER ROLE :"app_role" IN DATABASE :"app_database" SET search_path = :"app_role", public;
