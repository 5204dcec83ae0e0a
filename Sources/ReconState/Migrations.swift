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
        Migration(version: 4, description: "batches change only through the database's functions: four eyes, expiry and audit enforced where the data is; an outbox keyed by the precondition", sql: """
        -- A batch's status, creator, approver, hashes and expiry change only through the functions
        -- below (SECURITY DEFINER, owned by the role that migrates): a plain INSERT, UPDATE or
        -- DELETE by any other role is refused, whatever it was granted. So is writing the audit or
        -- the outbox by hand. The functions apply the rules of ReconCore's BatchLifecycle.
        ALTER TABLE recon.batches DROP CONSTRAINT batches_status_check;
        ALTER TABLE recon.batches ADD CONSTRAINT batches_status_check
            CHECK (status IN ('pending', 'approved', 'rejected', 'expired', 'applied', 'superseded'));
        ALTER TABLE recon.batches ADD COLUMN expires_at timestamptz, ADD COLUMN allow_self_approval boolean NOT NULL DEFAULT false,
            ADD COLUMN superseded_by text;
        UPDATE recon.batches SET expires_at = created_at + interval '72 hours';
        ALTER TABLE recon.batches ALTER COLUMN expires_at SET NOT NULL;

        CREATE FUNCTION recon.owner_only() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN
            IF current_user <> (SELECT pg_get_userbyid(relowner) FROM pg_class WHERE oid = TG_RELID) THEN
                RAISE EXCEPTION '% on %.% is allowed only through recon''s functions (recon batch approve, reject, apply)',
                    TG_OP, TG_TABLE_SCHEMA, TG_TABLE_NAME USING ERRCODE = 'insufficient_privilege';
            END IF;
            RETURN CASE WHEN TG_OP = 'DELETE' THEN OLD ELSE NEW END;
        END $$;
        CREATE TRIGGER batches_owner_only BEFORE INSERT OR UPDATE OR DELETE ON recon.batches
            FOR EACH ROW EXECUTE FUNCTION recon.owner_only();
        CREATE TRIGGER batch_events_owner_only BEFORE INSERT ON recon.batch_events
            FOR EACH ROW EXECUTE FUNCTION recon.owner_only();

        -- The outbox: one row per correction sent. Its key binds the action (target, operation,
        -- field, new value: the action id) to its precondition (the old value), so the same
        -- correction is never sent twice for the same state; once a later run saw one of its
        -- findings resolved (the correction was delivered), the same key may be sent again.
        ALTER TABLE recon.corrections DROP CONSTRAINT corrections_pkey;
        ALTER TABLE recon.corrections ADD COLUMN correction_id bigserial PRIMARY KEY,
            ADD COLUMN outbox_key text, ADD COLUMN finding_ids text[] NOT NULL DEFAULT '{}', ADD COLUMN delivered_run text;
        CREATE FUNCTION recon.outbox_key(p_action_id text, p_old_value text) RETURNS text LANGUAGE sql IMMUTABLE AS $$
            SELECT 'OBX-' || left(encode(sha256(convert_to(p_action_id || E'\\n' || coalesce('=' || p_old_value, 'NULL'), 'UTF8')), 'hex'), 32)
        $$;
        UPDATE recon.corrections SET outbox_key = recon.outbox_key(action_id, old_value);
        ALTER TABLE recon.corrections ALTER COLUMN outbox_key SET NOT NULL;
        CREATE UNIQUE INDEX corrections_undelivered ON recon.corrections (outbox_key) WHERE delivered_run IS NULL;
        CREATE INDEX corrections_batch ON recon.corrections (batch_id);
        CREATE TRIGGER corrections_owner_only BEFORE INSERT OR UPDATE OR DELETE ON recon.corrections
            FOR EACH ROW EXECUTE FUNCTION recon.owner_only();

        -- Settings only the owner can change. allow_self_approval: whether a batch generated with
        -- batches.allow_self_approval: true may be approved by the role that generated it (both
        -- must say so; a single-person team sets it with UPDATE recon.settings … as the owner).
        CREATE TABLE recon.settings (key text PRIMARY KEY, value text NOT NULL);
        INSERT INTO recon.settings VALUES ('allow_self_approval', 'false');
        CREATE TRIGGER settings_owner_only BEFORE INSERT OR UPDATE OR DELETE ON recon.settings
            FOR EACH ROW EXECUTE FUNCTION recon.owner_only();

        CREATE FUNCTION recon.register_batch(p_batch text, p_run text, p_rollback_of text, p_plan_path text, p_sha256 text,
                                             p_actions int, p_needs_human int, p_expire_seconds int, p_allow_self boolean)
        RETURNS void LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
        BEGIN
            INSERT INTO recon.batches (batch_id, run_id, rollback_of, created_by, plan_path, plan_sha256, actions, needs_human,
                                       status, expires_at, allow_self_approval)
            VALUES (p_batch, p_run, p_rollback_of, session_user, p_plan_path, p_sha256, p_actions, p_needs_human,
                    'pending', now() + make_interval(secs => p_expire_seconds),
                    p_allow_self AND coalesce((SELECT value = 'true' FROM recon.settings WHERE key = 'allow_self_approval'), false));
            INSERT INTO recon.batch_events (batch_id, event, actor, plan_sha256, detail)
            VALUES (p_batch, 'generated', session_user, p_sha256,
                    format('%s actions, %s for a human; expires %s', p_actions, p_needs_human,
                           to_char((now() + make_interval(secs => p_expire_seconds)) AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS"Z"'))
                    || CASE WHEN p_allow_self THEN '; self-approval asked, ' || CASE WHEN
                           (SELECT value = 'true' FROM recon.settings WHERE key = 'allow_self_approval') THEN 'allowed' ELSE 'not allowed by recon.settings' END
                       ELSE '' END
                    || coalesce('; rolls back ' || p_rollback_of, ''));
            -- One pending batch at a time: a night's batch supersedes the pending batches of
            -- earlier nights (approved ones are left to their approver; rollback batches stand alone).
            IF p_rollback_of IS NULL THEN
                WITH gone AS (
                    UPDATE recon.batches SET status = 'superseded', superseded_by = p_batch
                    WHERE status = 'pending' AND rollback_of IS NULL AND batch_id <> p_batch
                    RETURNING batch_id)
                INSERT INTO recon.batch_events (batch_id, event, actor, detail)
                SELECT batch_id, 'superseded', session_user, 'by ' || p_batch FROM gone;
            END IF;
        END $$;

        -- The rollback batch of a batch being applied (the applier's transaction holds its row lock).
        -- Approvers get this, never register_batch: they cannot register a night's batch.
        CREATE FUNCTION recon.register_rollback(p_batch text, p_run text, p_rollback_of text, p_plan_path text, p_sha256 text,
                                                p_actions int, p_expire_seconds int)
        RETURNS void LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
        BEGIN
            IF p_rollback_of IS NULL OR NOT EXISTS (SELECT 1 FROM recon.batches WHERE batch_id = p_rollback_of AND status = 'approved') THEN
                RAISE EXCEPTION 'a rollback batch is registered only while its batch is applied' USING ERRCODE = 'insufficient_privilege';
            END IF;
            PERFORM recon.register_batch(p_batch, p_run, p_rollback_of, p_plan_path, p_sha256, p_actions, 0, p_expire_seconds, false);
        END $$;

        -- A refused attempt the binary found (a plan file missing, an unknown action id): audited.
        CREATE FUNCTION recon.refuse_batch(p_batch text, p_event text, p_detail text)
        RETURNS void LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
        BEGIN
            IF p_event NOT IN ('approve refused', 'reject refused', 'apply refused') THEN
                RAISE EXCEPTION 'not a refusal event: %', p_event USING ERRCODE = 'invalid_parameter_value';
            END IF;
            INSERT INTO recon.batch_events (batch_id, event, actor, detail) VALUES (p_batch, p_event, session_user, p_detail);
        END $$;

        -- The batch row, locked; an expired pending or approved batch is marked expired (audited).
        CREATE FUNCTION recon.lock_batch(p_batch text) RETURNS recon.batches
        LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
        DECLARE b recon.batches;
        BEGIN
            SELECT * INTO b FROM recon.batches WHERE batch_id = p_batch FOR UPDATE;
            IF NOT FOUND THEN
                RAISE EXCEPTION 'unknown batch % (recon batch list shows the batches)', p_batch USING ERRCODE = 'no_data_found';
            END IF;
            IF b.status IN ('pending', 'approved') AND now() >= b.expires_at THEN
                UPDATE recon.batches SET status = 'expired' WHERE batch_id = p_batch;
                INSERT INTO recon.batch_events (batch_id, event, actor, detail)
                VALUES (p_batch, 'expired', session_user, 'expiry fixed at generation: ' || b.expires_at);
                b.status := 'expired';
            END IF;
            RETURN b;
        END $$;

        -- Approve: returns NULL, or why it was refused (the refusal is audited). Concurrent
        -- approvals wait for the row lock: exactly one wins.
        CREATE FUNCTION recon.approve_batch(p_batch text, p_sha256 text, p_excluded text[], p_selection text)
        RETURNS text LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
        DECLARE b recon.batches; why text;
        BEGIN
            b := recon.lock_batch(p_batch);
            why := CASE
                WHEN b.status = 'expired' THEN 'it has expired (the expiry was fixed when it was generated); plan a new one'
                WHEN b.status <> 'pending' THEN format('it is %s; only a pending batch can be approved', b.status)
                WHEN p_sha256 IS DISTINCT FROM b.plan_sha256 THEN
                    format('its plan file has changed since it was generated (sha256 %s, recorded %s)', p_sha256, b.plan_sha256)
                WHEN session_user = b.created_by AND NOT b.allow_self_approval THEN
                    format('%s generated it and cannot approve it (four eyes); another role must, or generate it with batches.allow_self_approval: true for a single-person team', session_user)
                END;
            IF why IS NOT NULL THEN
                INSERT INTO recon.batch_events (batch_id, event, actor, plan_sha256, detail) VALUES (p_batch, 'approve refused', session_user, p_sha256, why);
                RETURN why;
            END IF;
            UPDATE recon.batches SET status = 'approved', approved_by = session_user, approved_at = now(), approved_sha256 = p_sha256,
                   excluded = coalesce(p_excluded, '{}') WHERE batch_id = p_batch;
            INSERT INTO recon.batch_events (batch_id, event, actor, plan_sha256, detail)
            VALUES (p_batch, 'approved', session_user, p_sha256,
                    coalesce(nullif(p_selection, ''), 'all actions')
                    || format(' (%s of %s actions)', b.actions - coalesce(cardinality(p_excluded), 0), b.actions));
            RETURN NULL;
        END $$;

        CREATE FUNCTION recon.reject_batch(p_batch text, p_reason text)
        RETURNS text LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
        DECLARE b recon.batches; why text;
        BEGIN
            b := recon.lock_batch(p_batch);
            why := CASE
                WHEN coalesce(btrim(p_reason), '') = '' THEN 'a rejection needs a reason'
                WHEN b.status NOT IN ('pending', 'approved') THEN format('it was %s; nothing can change it any more', b.status)
                END;
            IF why IS NOT NULL THEN
                INSERT INTO recon.batch_events (batch_id, event, actor, detail) VALUES (p_batch, 'reject refused', session_user, why);
                RETURN why;
            END IF;
            UPDATE recon.batches SET status = 'rejected', rejected_by = session_user, rejected_at = now(), reject_reason = p_reason
            WHERE batch_id = p_batch;
            INSERT INTO recon.batch_events (batch_id, event, actor, detail) VALUES (p_batch, 'rejected', session_user, p_reason);
            RETURN NULL;
        END $$;

        -- Apply, step 1 (in the applier's transaction): lock the batch and check it may be applied
        -- now, for this plan file. An approval must be backed by its audit event: a status set by
        -- hand is not one. Returns NULL, or why not (audited; the caller commits that and stops).
        CREATE FUNCTION recon.begin_apply(p_batch text, p_sha256 text)
        RETURNS text LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
        DECLARE b recon.batches; why text;
        BEGIN
            b := recon.lock_batch(p_batch);
            why := CASE
                WHEN b.status = 'applied' THEN 'it has already been applied; applying it again changes nothing'
                WHEN b.status = 'pending' THEN 'it is pending: it must be approved before it is applied'
                WHEN b.status <> 'approved' THEN format('it was %s; nothing can change it any more', b.status)
                WHEN p_sha256 IS DISTINCT FROM b.plan_sha256 OR p_sha256 IS DISTINCT FROM b.approved_sha256 THEN
                    format('its plan file differs from what was approved (sha256 %s, approved %s)', p_sha256, coalesce(b.approved_sha256, '-'))
                WHEN NOT EXISTS (SELECT 1 FROM recon.batch_events e WHERE e.batch_id = p_batch AND e.event = 'approved'
                                 AND e.actor = b.approved_by AND e.plan_sha256 = b.approved_sha256
                                 AND (e.actor <> b.created_by OR b.allow_self_approval)) THEN
                    'its approval has no matching approved event in the audit (was the status set by hand?)'
                END;
            IF why IS NOT NULL THEN
                INSERT INTO recon.batch_events (batch_id, event, actor, plan_sha256, detail) VALUES (p_batch, 'apply refused', session_user, p_sha256, why);
            END IF;
            RETURN why;
        END $$;

        -- Apply, step 2: the corrections into the outbox, each once per precondition. Returns the
        -- action ids added now; the others are already in the outbox, not yet delivered.
        CREATE FUNCTION recon.add_corrections(p_batch text, p_action_ids text[], p_operations text[], p_systems text[],
                                              p_entities text[], p_records text[], p_fields text[], p_old text[], p_new text[],
                                              p_payloads text[], p_findings text[])
        RETURNS SETOF text LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
        BEGIN
            IF NOT EXISTS (SELECT 1 FROM recon.batches WHERE batch_id = p_batch AND status = 'approved') THEN
                RAISE EXCEPTION 'batch % is not approved: nothing of it goes to the outbox', p_batch USING ERRCODE = 'insufficient_privilege';
            END IF;
            -- Delivered: a run after the correction was sent saw one of its findings resolved.
            UPDATE recon.corrections c SET delivered_run = (
                    SELECT r.run_id FROM recon.run_findings rf JOIN recon.runs r ON r.run_id = rf.run_id
                    WHERE rf.finding_id = ANY (c.finding_ids) AND rf.status = 'resolved' AND r.started_at > c.applied_at
                    ORDER BY r.started_at LIMIT 1)
            WHERE c.delivered_run IS NULL
              AND c.outbox_key IN (SELECT recon.outbox_key(a, o) FROM unnest(p_action_ids, p_old) AS u(a, o))
              AND EXISTS (SELECT 1 FROM recon.run_findings rf JOIN recon.runs r ON r.run_id = rf.run_id
                          WHERE rf.finding_id = ANY (c.finding_ids) AND rf.status = 'resolved' AND r.started_at > c.applied_at);
            RETURN QUERY
            INSERT INTO recon.corrections AS c (action_id, outbox_key, batch_id, operation, system, entity, record_id, field,
                                                old_value, new_value, payload, finding_ids, applied_by)
            SELECT u.a, recon.outbox_key(u.a, u.o), p_batch, u.op, u.sys, u.ent, u.rec, u.fld, u.o, u.n, u.pl::jsonb,
                   string_to_array(u.fi, ' '), session_user
            FROM unnest(p_action_ids, p_operations, p_systems, p_entities, p_records, p_fields, p_old, p_new, p_payloads, p_findings)
                 AS u(a, op, sys, ent, rec, fld, o, n, pl, fi)
            ON CONFLICT (outbox_key) WHERE delivered_run IS NULL DO NOTHING
            RETURNING c.action_id;
        END $$;

        -- The keys of the corrections sent and not yet delivered: the night's batch leaves out the
        -- actions already on their way (keys only: no value leaves the outbox).
        CREATE FUNCTION recon.in_flight_keys() RETURNS SETOF text
        LANGUAGE sql STABLE SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
            SELECT c.outbox_key FROM recon.corrections c
            WHERE c.delivered_run IS NULL
              AND NOT EXISTS (SELECT 1 FROM recon.run_findings rf JOIN recon.runs r ON r.run_id = rf.run_id
                              WHERE rf.finding_id = ANY (c.finding_ids) AND rf.status = 'resolved' AND r.started_at > c.applied_at)
        $$;

        -- Apply, step 3: the batch is applied (same transaction as the outbox rows).
        CREATE FUNCTION recon.finish_apply(p_batch text, p_sha256 text, p_detail text)
        RETURNS void LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
        BEGIN
            UPDATE recon.batches SET status = 'applied', applied_by = session_user, applied_at = now()
            WHERE batch_id = p_batch AND status = 'approved';
            IF NOT FOUND THEN
                RAISE EXCEPTION 'batch % is not approved', p_batch USING ERRCODE = 'insufficient_privilege';
            END IF;
            INSERT INTO recon.batch_events (batch_id, event, actor, plan_sha256, detail) VALUES (p_batch, 'applied', session_user, p_sha256, p_detail);
        END $$;

        REVOKE EXECUTE ON ALL FUNCTIONS IN SCHEMA recon FROM PUBLIC;
        """),
        Migration(version: 5, description: "runs say how far they got and where their reports go, so a run whose process died says where", sql: """
        ALTER TABLE recon.runs ADD COLUMN phase text, ADD COLUMN reports_directory text;
        """),
        Migration(version: 6, description: "reviewers' decisions about identities (same, different), append-only and honoured by every run", sql: """
        -- "These records are one customer" (same) or "they are not" (different), with who, when and
        -- why. Every run reads the latest decision per pair before matching; a later decision about a
        -- pair overrides an earlier one (withdrawn ends it). Written only through recon.decide(),
        -- which records the role the session logged in as; never updated or deleted.
        CREATE TABLE recon.decisions (
            decision_id bigserial PRIMARY KEY,
            verdict     text NOT NULL CHECK (verdict IN ('same', 'different', 'withdrawn')),
            a_system    text NOT NULL CHECK (a_system IN ('crm', 'erp')),
            a_id        text NOT NULL CHECK (a_id <> ''),
            b_system    text NOT NULL CHECK (b_system IN ('crm', 'erp')),
            b_id        text NOT NULL CHECK (b_id <> ''),
            reason      text NOT NULL CHECK (btrim(reason) <> ''),
            decided_by  text NOT NULL,
            decided_at  timestamptz NOT NULL DEFAULT now(),
            source      text NOT NULL,
            CHECK ((a_system, a_id) < (b_system, b_id))
        );
        CREATE INDEX decisions_pair ON recon.decisions (a_system, a_id, b_system, b_id, decision_id DESC);
        CREATE TRIGGER decisions_append_only BEFORE UPDATE OR DELETE ON recon.decisions
            FOR EACH ROW EXECUTE FUNCTION recon.append_only();
        CREATE TRIGGER decisions_no_truncate BEFORE TRUNCATE ON recon.decisions
            FOR EACH STATEMENT EXECUTE FUNCTION recon.append_only();
        CREATE TRIGGER decisions_owner_only BEFORE INSERT ON recon.decisions
            FOR EACH ROW EXECUTE FUNCTION recon.owner_only();

        CREATE FUNCTION recon.decide(p_verdict text, p_a_system text, p_a_id text, p_b_system text, p_b_id text,
                                     p_reason text, p_source text)
        RETURNS bigint LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
        DECLARE id bigint; swap boolean;
        BEGIN
            IF (p_a_system, p_a_id) = (p_b_system, p_b_id) THEN
                RAISE EXCEPTION 'a decision is about two different records' USING ERRCODE = 'check_violation';
            END IF;
            swap := (p_a_system, p_a_id) > (p_b_system, p_b_id);
            INSERT INTO recon.decisions (verdict, a_system, a_id, b_system, b_id, reason, decided_by, source)
            VALUES (p_verdict,
                    CASE WHEN swap THEN p_b_system ELSE p_a_system END, CASE WHEN swap THEN p_b_id ELSE p_a_id END,
                    CASE WHEN swap THEN p_a_system ELSE p_b_system END, CASE WHEN swap THEN p_a_id ELSE p_b_id END,
                    p_reason, session_user, coalesce(nullif(p_source, ''), 'recon decide'))
            RETURNING decision_id INTO id;
            RETURN id;
        END $$;
        REVOKE EXECUTE ON FUNCTION recon.decide(text, text, text, text, text, text, text) FROM PUBLIC;
        """),
        Migration(version: 7, description: "run_findings without a per-row foreign key check: a first night records hundreds of thousands of findings in one statement", sql: """
        -- Only the run that owns the row writes it, in the transaction that records that run (its
        -- row in recon.runs exists by then), and runs are never deleted: the key guarded nothing
        -- the writer does not, and checked each row on its own (docs/PERFORMANCE.md).
        ALTER TABLE recon.run_findings DROP CONSTRAINT IF EXISTS run_findings_run_id_fkey;
        COMMENT ON COLUMN recon.run_findings.run_id IS 'the run (recon.runs) that opened or resolved the finding; written only in that run''s own transaction';
        """),
        Migration(version: 8, description: "each run records the night batch it planned and a digest of what it planned it from, so that a night with the same inputs keeps the pending batch without planning it again", sql: """
        -- Written by the run itself, in its own transaction, beside its batch. Nothing is
        -- enforced by it: a night whose digest matches still checks the batch's plan file against
        -- the registered hash, and approval and apply check the batch as they always do.
        ALTER TABLE recon.runs ADD COLUMN planned_batch text, ADD COLUMN plan_inputs_sha256 text;
        COMMENT ON COLUMN recon.runs.planned_batch IS 'the night batch this run planned (new, or the pending one planned again unchanged)';
        COMMENT ON COLUMN recon.runs.plan_inputs_sha256 IS 'SHA-256 of what the batch was planned from: code, phone metadata, recon.yml, decisions, the extracts as read, findings left out, corrections in flight (ReconCore PlanInputs)';
        """),
        Migration(version: 9, description: "run_findings found by run through a BRIN index instead of a primary key: a first night inserts hundreds of thousands of rows into one B-tree", sql: """
        -- A run writes each finding it opened or resolved once, in its own transaction (a finding
        -- is either tonight's or gone, never both), so the key guarded nothing the writer does not.
        -- Rows arrive run after run, and run ids are the runs' start times: a BRIN index on run_id
        -- finds one run's rows by the few block ranges that hold them, and costs an insert almost
        -- nothing. (A lookup by finding_id alone never used the key, whose first column is run_id.)
        ALTER TABLE recon.run_findings DROP CONSTRAINT IF EXISTS run_findings_pkey;
        CREATE INDEX run_findings_run ON recon.run_findings USING brin (run_id);
        COMMENT ON TABLE recon.run_findings IS 'findings each run opened (new, or waived when first seen) or resolved, once per run and finding; before schema 3 every finding of every run';
        """),
        Migration(version: 10, description: "a first night builds recon.findings' key and findings_open after its rows, by a sort each, instead of one insertion per row and index", sql: """
        -- Only the table's owner may drop and create its indexes. The nightly role does it through
        -- these functions: only while recon.findings is empty, and it cannot commit while an index
        -- is missing (the deferred check below fails the commit, which rolls the drop back). A
        -- rollback restores them too. The key is built from the rows, so duplicate ids fail it.
        CREATE TABLE recon.findings_unindexed (since timestamptz NOT NULL DEFAULT now());
        CREATE FUNCTION recon.findings_indexed() RETURNS trigger
        LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
        BEGIN
            IF to_regclass('recon.findings_pkey') IS NULL OR to_regclass('recon.findings_open') IS NULL THEN
                RAISE EXCEPTION 'recon.findings lacks its key or findings_open: call recon.index_findings() before committing'
                    USING ERRCODE = 'integrity_constraint_violation';
            END IF;
            DELETE FROM recon.findings_unindexed;
            RETURN NULL;
        END $$;
        CREATE CONSTRAINT TRIGGER findings_indexed AFTER INSERT ON recon.findings_unindexed
            DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION recon.findings_indexed();
        -- True when the indexes were dropped (the table was empty), false otherwise. The check is
        -- registered after the drop: a caller that made it immediate fails here, not at commit.
        CREATE FUNCTION recon.unindex_findings() RETURNS boolean
        LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
        BEGIN
            LOCK TABLE recon.findings IN ACCESS EXCLUSIVE MODE;
            IF EXISTS (SELECT 1 FROM recon.findings) THEN
                RETURN false;
            END IF;
            ALTER TABLE recon.findings DROP CONSTRAINT IF EXISTS findings_pkey;
            DROP INDEX IF EXISTS recon.findings_open;
            INSERT INTO recon.findings_unindexed DEFAULT VALUES;
            RETURN true;
        END $$;
        CREATE FUNCTION recon.index_findings() RETURNS void
        LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
        BEGIN
            IF to_regclass('recon.findings_pkey') IS NULL THEN
                ALTER TABLE recon.findings ADD CONSTRAINT findings_pkey PRIMARY KEY (finding_id);
            END IF;
            CREATE INDEX IF NOT EXISTS findings_open ON recon.findings (open) WHERE open;
        END $$;
        REVOKE EXECUTE ON FUNCTION recon.findings_indexed(), recon.unindex_findings(), recon.index_findings() FROM PUBLIC;
        COMMENT ON TABLE recon.findings_unindexed IS 'a row while a first night''s transaction has recon.findings without its indexes; checked at commit';
        """),
    ]

    public static var latest: Int { all.last?.version ?? 0 }
}
