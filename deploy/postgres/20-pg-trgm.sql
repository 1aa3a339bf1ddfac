-- product-db only, after 10-app-role.sql: the product migrations index names and
-- descriptions with pg_trgm. Creating an extension needs more than the service's role
-- has, so the superuser installs it here, in public; the migration's
-- `CREATE EXTENSION IF NOT EXISTS pg_trgm` then finds it and does nothing.
\set ON_ERROR_STOP on
CREATE EXTENSION IF NOT EXISTS pg_trgm SCHEMA public;
