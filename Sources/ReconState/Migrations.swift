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
    ]

    public static var latest: Int { all.last?.version ?? 0 }
}
