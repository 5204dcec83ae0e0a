/// The `recon` schema of the state database, as numbered migrations applied in order by
/// `recon migrate`. A migration is never edited once released: changes are new migrations.
public enum Migrations {
    public struct Migration: Sendable {
        public let version: Int
        public let description: String
        public let sql: String
    }

    public static let all: [Migration] = [
        Migration(version: 1, description: "run history, finding lifecycle, waivers", sql: """
        CREATE SCHEMA IF NOT EXISTS recon;
        CREATE TABLE recon.schema_version (
            version     int PRIMARY KEY,
            description text NOT NULL,
            applied_at  timestamptz NOT NULL DEFAULT now(),
            applied_by  text NOT NULL DEFAULT current_user
        );
        -- One row per run. counts: {"type/entity": {"new": n, "persisting": n, "waived": n, "resolved": n, "open": n}}.
        CREATE TABLE recon.runs (
            run_id          text PRIMARY KEY,
            started_at      timestamptz NOT NULL,
            finished_at     timestamptz,
            outcome         text NOT NULL CHECK (outcome IN ('running', 'clean', 'breached', 'error')),
            exit_code       int,
            snapshot        text,
            findings_total  int,
            counts          jsonb,
            records_read    jsonb,
            timings_ms      jsonb,
            breaches        jsonb,
            error           text,
            host            text,
            pid             int,
            run_by          text NOT NULL DEFAULT current_user
        );
        CREATE INDEX runs_started ON recon.runs (started_at);
        -- Every finding id ever seen. No personal data: ids, types and generic details only.
        CREATE TABLE recon.findings (
            finding_id      text PRIMARY KEY,
            type            text NOT NULL,
            entity          text NOT NULL,
            severity        text NOT NULL,
            field           text NOT NULL DEFAULT '',
            records         text NOT NULL,
            detail          text NOT NULL DEFAULT '',
            first_seen_run  text NOT NULL,
            first_seen_at   timestamptz NOT NULL,
            last_seen_run   text NOT NULL,
            last_seen_at    timestamptz NOT NULL,
            nights_open     int NOT NULL,
            open            boolean NOT NULL,
            resolved_run    text,
            resolved_at     timestamptz
        );
        CREATE INDEX findings_open ON recon.findings (open) WHERE open;
        CREATE TABLE recon.run_findings (
            run_id      text NOT NULL REFERENCES recon.runs (run_id) ON DELETE CASCADE,
            finding_id  text NOT NULL,
            status      text NOT NULL CHECK (status IN ('new', 'persisting', 'waived', 'resolved')),
            PRIMARY KEY (run_id, finding_id)
        );
        -- Waivers are appended, never updated: the newest one for a finding applies.
        CREATE TABLE recon.waivers (
            waiver_id   bigserial PRIMARY KEY,
            finding_id  text NOT NULL,
            reason      text NOT NULL CHECK (reason <> ''),
            until       date,
            waived_by   text NOT NULL DEFAULT current_user,
            waived_at   timestamptz NOT NULL DEFAULT now()
        );
        CREATE INDEX waivers_finding ON recon.waivers (finding_id, waived_at DESC);
        """),
        Migration(version: 2, description: "correction batches, their append-only audit, the corrections outbox", sql: """
        CREATE TABLE recon.batches (
            batch_id         text PRIMARY KEY,
            run_id           text NOT NULL,
            rollback_of      text REFERENCES recon.batches (batch_id),
            created_at       timestamptz NOT NULL DEFAULT now(),
            created_by       text NOT NULL DEFAULT current_user,
            plan_path        text NOT NULL,
            plan_sha256      text NOT NULL,
            actions          int NOT NULL,
            needs_human      int NOT NULL,
            status           text NOT NULL CHECK (status IN ('pending', 'approved', 'rejected', 'applied')),
            approved_by      text,
            approved_at      timestamptz,
            approved_sha256  text,
            excluded         text[] NOT NULL DEFAULT '{}',
            rejected_by      text,
            rejected_at      timestamptz,
            reject_reason    text,
            applied_by       text,
            applied_at       timestamptz
        );
        -- Every state change of a batch, appended; never updated or deleted (enforced below).
        CREATE TABLE recon.batch_events (
            event_id     bigserial PRIMARY KEY,
            batch_id     text NOT NULL REFERENCES recon.batches (batch_id),
            event        text NOT NULL,
            actor        text NOT NULL DEFAULT current_user,
            at           timestamptz NOT NULL DEFAULT now(),
            plan_sha256  text,
            detail       text
        );
        CREATE FUNCTION recon.append_only() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN
            RAISE EXCEPTION '% on %.% is not allowed: the audit is append-only', TG_OP, TG_TABLE_SCHEMA, TG_TABLE_NAME
                USING ERRCODE = 'insufficient_privilege';
        END $$;
        CREATE TRIGGER batch_events_append_only BEFORE UPDATE OR DELETE ON recon.batch_events
            FOR EACH ROW EXECUTE FUNCTION recon.append_only();
        CREATE TRIGGER batch_events_no_truncate BEFORE TRUNCATE ON recon.batch_events
            FOR EACH STATEMENT EXECUTE FUNCTION recon.append_only();
        -- The outbox: one row per action ever applied, keyed by its stable id.
        CREATE TABLE recon.corrections (
            action_id   text PRIMARY KEY,
            batch_id    text NOT NULL REFERENCES recon.batches (batch_id),
            operation   text NOT NULL,
            system      text NOT NULL,
            entity      text NOT NULL,
            record_id   text NOT NULL,
            field       text NOT NULL,
            old_value   text,
            new_value   text,
            payload     jsonb NOT NULL DEFAULT '{}',
            applied_at  timestamptz NOT NULL DEFAULT now(),
            applied_by  text NOT NULL DEFAULT current_user
        );
        """),
        Migration(version: 3, description: "findings written only when they change: runs numbered, nights counted from the first run", sql: """
        -- Each run that recorded its findings gets the next number; an open finding remembers the
        -- number of the run that opened it, so its nights are counted, not rewritten every night.
        ALTER TABLE recon.runs ADD COLUMN seq int;
        UPDATE recon.runs r SET seq = n.seq
        FROM (SELECT run_id, row_number() OVER (ORDER BY started_at, run_id) AS seq
              FROM recon.runs r2
              WHERE outcome IN ('clean', 'breached')
                 OR EXISTS (SELECT 1 FROM recon.run_findings rf WHERE rf.run_id = r2.run_id)) n
        WHERE r.run_id = n.run_id;
        CREATE UNIQUE INDEX runs_seq ON recon.runs (seq);
        -- digest: severity, field, records and detail hashed; a persisting finding is rewritten
        -- only when it changes. For open findings, last_seen_run, last_seen_at and nights_open are
        -- as of the run that last wrote the row: recon.findings_now has the current values.
        ALTER TABLE recon.findings ADD COLUMN first_seen_seq int, ADD COLUMN digest bigint;
        UPDATE recon.findings SET first_seen_seq = (SELECT coalesce(max(seq), 0) FROM recon.runs) - nights_open + 1
        WHERE open;
        CREATE VIEW recon.findings_now AS
        SELECT f.finding_id, f.type, f.entity, f.severity, f.field, f.records, f.detail, f.first_seen_run, f.first_seen_at,
               CASE WHEN f.open THEN l.run_id ELSE f.last_seen_run END AS last_seen_run,
               CASE WHEN f.open THEN l.finished_at ELSE f.last_seen_at END AS last_seen_at,
               CASE WHEN f.open THEN l.seq - f.first_seen_seq + 1 ELSE f.nights_open END AS nights_open,
               f.open, f.resolved_run, f.resolved_at
        FROM recon.findings f
        LEFT JOIN (SELECT run_id, finished_at, seq FROM recon.runs WHERE seq IS NOT NULL ORDER BY seq DESC LIMIT 1) l ON true;
        -- From now on a run's rows in run_findings are the findings it opened and resolved.
        COMMENT ON TABLE recon.run_findings IS 'findings each run opened (new, or waived when first seen) or resolved; before schema 3 every finding of every run';
        """),
    ]

    public static var latest: Int { all.last?.version ?? 0 }
}
