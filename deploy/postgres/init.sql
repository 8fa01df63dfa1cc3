-- First start of the compose file's PostgreSQL (deploy/compose.yaml): the owner that runs migrations and
-- the runtime role of the web, worker, beat and DICOM processes. Neither is a superuser nor BYPASSRLS:
-- row-level security, the second wall between clinics, does not bind those (docs/deploy.md).
-- The passwords come from the compose file's secrets; change them before the first start.
CREATE ROLE palisade_owner LOGIN NOSUPERUSER NOBYPASSRLS PASSWORD 'CHANGE-ME-owner';
CREATE ROLE palisade_app   LOGIN NOSUPERUSER NOBYPASSRLS PASSWORD 'CHANGE-ME-app';
CREATE DATABASE palisade OWNER palisade_owner;
\c palisade
GRANT USAGE ON SCHEMA public TO palisade_app;
ALTER DEFAULT PRIVILEGES FOR ROLE palisade_owner IN SCHEMA public
  GRANT SELECT, INSERT, UPDATE, DELETE ON TABLES TO palisade_app;
ALTER DEFAULT PRIVILEGES FOR ROLE palisade_owner IN SCHEMA public
  GRANT USAGE, SELECT ON SEQUENCES TO palisade_app;
