-- Oncoboard site database: the four roles, their grants and row security (PostgreSQL >= 13).
--
-- Run once, AFTER the migrations have created the tables (`oncoboard --database URL store
-- migrate` as the database's owner), as a superuser or as the owner once the five roles exist
-- (setup-database.sh in this folder does all of it; see README.md):
--     psql "postgresql://owner@dbhost/oncoboard" -v ON_ERROR_STOP=1 -f roles.sql
-- Running it again is harmless (roles are created only when missing, grants are idempotent).
--
-- Then give each person a login and the roles they hold, e.g.
--     CREATE ROLE alice LOGIN IN ROLE oncoboard_coordinator;
--     CREATE ROLE bmartin LOGIN IN ROLE oncoboard_clinician, oncoboard_radiologist;
-- (password from the OS keyring, or Kerberos/GSSAPI in pg_hba.conf; never in a config file).
--
-- The application checks the same rules (oncoboard/identity.py, PERMISSIONS) and says
-- "needs role X"; these grants make the server refuse too, whatever the client does:
--   coordinator  meetings and agenda           board_meetings, board_cases
--   clinician    read records, run models,     clinical tables, predictions, board_decisions
--                record decisions, import
--   radiologist  images, lesions, measurements dicom_*, lesions, lesion_measurements
--   admin        plugins, site settings,       read-only on everything, the access log in full
--                the access log
-- Every role is a member of oncoboard_user: the agenda, the patient list, the change feed, and
-- appends to the audit trail and the access log. Append-only tables (audit_log, access_log,
-- board_decisions, lesions, lesion_measurements, viewer_measurements, predictions) are never granted UPDATE or
-- DELETE, and row security makes each appended row name the login that wrote it.
-- SQLite-only search tables (the FTS5 notes_fts, patient_search and patient_search_keys) do not
-- exist on PostgreSQL, which has its own patient_search table (kept by triggers): the
-- PostgreSQL search replaces them.

BEGIN;

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

-- every site role is a member of oncoboard_user (granted only when missing: the database's
-- owner may run this file once an administrator made the roles, as setup-database.sh does)
DO $$
DECLARE r text;
BEGIN
    FOREACH r IN ARRAY ARRAY['oncoboard_coordinator', 'oncoboard_clinician',
                             'oncoboard_radiologist', 'oncoboard_admin'] LOOP
        IF NOT EXISTS (SELECT 1 FROM pg_auth_members m
                       JOIN pg_roles g ON g.oid = m.roleid JOIN pg_roles u ON u.oid = m.member
                       WHERE g.rolname = 'oncoboard_user' AND u.rolname = r) THEN
            EXECUTE format('GRANT oncoboard_user TO %I', r);
        END IF;
    END LOOP;
END
$$;

-- Nothing for anyone else: the public gets no access to patient data.
REVOKE ALL ON ALL TABLES IN SCHEMA public FROM PUBLIC;
GRANT USAGE ON SCHEMA public TO oncoboard_user;
GRANT USAGE ON ALL SEQUENCES IN SCHEMA public TO oncoboard_user;  -- ids of inserted rows

-- Every signed-in user ---------------------------------------------------------------------------
GRANT SELECT ON _migrations TO oncoboard_user;                    -- schema version check
GRANT SELECT ON patients, patient_search TO oncoboard_user;  -- the patient list
GRANT SELECT ON board_meetings, board_cases, board_decisions, board_sent TO oncoboard_user;
GRANT SELECT, INSERT ON board_changes TO oncoboard_user;          -- the change feed
GRANT UPDATE (seq, changed_at, changed_by) ON board_changes TO oncoboard_user;
GRANT SELECT, INSERT ON record_changes TO oncoboard_user;         -- ... per patient record
GRANT UPDATE (seq, changed_at, changed_by) ON record_changes TO oncoboard_user;
GRANT SELECT, INSERT ON audit_log TO oncoboard_user;              -- append (reads the head)
-- the access log: append, and read only the chain's head (seq, hash), not who opened what
GRANT INSERT ON access_log TO oncoboard_user;
GRANT SELECT (seq, hash) ON access_log TO oncoboard_user;

-- coordinator: meetings and agenda -------------------------------------------------------------
GRANT INSERT, UPDATE ON board_meetings TO oncoboard_coordinator;
GRANT INSERT, UPDATE, DELETE ON board_cases TO oncoboard_coordinator;

-- clinician: read records, import them, run models, record decisions ---------------------------
GRANT SELECT ON conditions, observations, treatments, notes, outcomes, record_sources,
    predictions, dicom_studies, dicom_series, dicom_instances, lesions, lesion_measurements,
    viewer_measurements TO oncoboard_clinician;
GRANT INSERT, UPDATE, DELETE ON patients, patient_search, conditions, observations,
    treatments, notes, outcomes, record_sources TO oncoboard_clinician;
GRANT INSERT ON predictions TO oncoboard_clinician;
GRANT INSERT ON board_decisions, board_sent TO oncoboard_clinician;
-- recording a decision takes the case's decision token and marks a planned meeting held
GRANT UPDATE (decision_version) ON board_cases TO oncoboard_clinician;
GRANT UPDATE (status, version, updated_by, updated_at) ON board_meetings TO oncoboard_clinician;

-- radiologist: images, lesions, measurements ----------------------------------------------------
GRANT SELECT, INSERT, UPDATE, DELETE ON dicom_studies, dicom_series, dicom_instances
    TO oncoboard_radiologist;
GRANT SELECT, INSERT ON lesions, lesion_measurements, viewer_measurements
    TO oncoboard_radiologist;

-- admin: everything readable (audit, the access log in full), no clinical writes ---------------
GRANT SELECT ON ALL TABLES IN SCHEMA public TO oncoboard_admin;
ALTER DEFAULT PRIVILEGES IN SCHEMA public GRANT SELECT ON TABLES TO oncoboard_admin;

-- Row security: an appended row names the login that wrote it -----------------------------------
ALTER TABLE audit_log ENABLE ROW LEVEL SECURITY;
DROP POLICY IF EXISTS audit_log_read ON audit_log;
CREATE POLICY audit_log_read ON audit_log FOR SELECT TO oncoboard_user USING (true);
DROP POLICY IF EXISTS audit_log_append_own ON audit_log;
CREATE POLICY audit_log_append_own ON audit_log FOR INSERT TO oncoboard_user
    WITH CHECK (actor = current_user);

ALTER TABLE access_log ENABLE ROW LEVEL SECURITY;
DROP POLICY IF EXISTS access_log_head ON access_log;  -- columns limited by the grants above
CREATE POLICY access_log_head ON access_log FOR SELECT TO oncoboard_user USING (true);
DROP POLICY IF EXISTS access_log_append_own ON access_log;
CREATE POLICY access_log_append_own ON access_log FOR INSERT TO oncoboard_user
    WITH CHECK (user_name = current_user);

ALTER TABLE board_decisions ENABLE ROW LEVEL SECURITY;
DROP POLICY IF EXISTS board_decisions_read ON board_decisions;
CREATE POLICY board_decisions_read ON board_decisions FOR SELECT TO oncoboard_user USING (true);
DROP POLICY IF EXISTS board_decisions_own ON board_decisions;
CREATE POLICY board_decisions_own ON board_decisions FOR INSERT TO oncoboard_clinician
    WITH CHECK (recorded_by = current_user);

COMMIT;
