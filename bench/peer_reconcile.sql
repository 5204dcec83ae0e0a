-- The benchmark's peer: recon's reconciliation hand-written in SQL, as a good DBA would write it.
-- It runs unchanged in PostgreSQL (sources = temp tables filled by recon's four query files, so
-- the data never leaves the server) and in DuckDB (sources = CSV files exported with COPY).
-- Inputs: crm_c, erp_c (id, external_id, email, phone, name, country, updated_at, segment) and
-- crm_o, erp_o (id, status, external_id, customer_id, amount, currency, created_at, updated_at,
-- channel), all text. Output: the table findings(type, entity, system, record_id, key), which the
-- driver writes to a CSV file. Phones are normalised with the hand-written rules a DBA would use
-- (digits only; +, 00 and 011 international prefixes; a trunk 0 replaced by the country's code):
-- close to, but not the same as, libphonenumber's answer, so the peer is if anything flattered.
-- Statements end with ";" at the end of a line; the DuckDB driver skips the ANALYZE ones.

CREATE TEMP TABLE calling_codes AS
SELECT * FROM (VALUES ('GB', '44'), ('US', '1'), ('DE', '49'), ('FR', '33')) AS t(country, cc);

CREATE TEMP TABLE status_map AS
SELECT * FROM (VALUES
  ('crm', 'Prospecting', 'open'), ('crm', 'Negotiation', 'open'), ('crm', 'Closed Won', 'won'),
  ('crm', 'Closed Lost', 'lost'), ('crm', 'Cancelled', 'cancelled'),
  ('erp', 'OPEN', 'open'), ('erp', 'INVOICED', 'invoiced'), ('erp', 'PAID', 'paid'), ('erp', 'SHIPPED', 'fulfilled'),
  ('erp', 'CANCELLED', 'cancelled'), ('erp', 'REFUNDED', 'refunded'), ('erp', 'CHARGEBACK', 'chargeback'),
  ('erp', 'PAYMENT_FAILED', 'payment_failed')) AS t(system, raw, canonical);

CREATE TEMP TABLE compatible AS
SELECT * FROM (VALUES ('won', 'open'), ('won', 'invoiced'), ('won', 'paid'), ('won', 'fulfilled'),
  ('lost', 'cancelled'), ('cancelled', 'refunded')) AS t(crm, erp);

-- Normalised customers of both systems.
CREATE TEMP TABLE cust AS
WITH raw AS (
  SELECT 'crm' AS system, trim(id) AS id, nullif(trim(external_id), '') AS external_id,
         lower(trim(email)) AS email, regexp_replace(phone, '[^0-9+]', '', 'g') AS digits, upper(trim(country)) AS country
  FROM crm_c
  UNION ALL
  SELECT 'erp', trim(id), nullif(trim(external_id), ''), lower(trim(email)), regexp_replace(phone, '[^0-9+]', '', 'g'), upper(trim(country))
  FROM erp_c
)
SELECT r.system, r.id, r.external_id,
       CASE WHEN r.email LIKE '_%@_%._%' AND r.email NOT LIKE '%@%@%' THEN r.email END AS email,
       CASE
         WHEN length(r.digits) < 7 THEN NULL
         WHEN r.digits LIKE '+%' THEN r.digits
         WHEN r.digits LIKE '011%' THEN '+' || substr(r.digits, 4)
         WHEN r.digits LIKE '00%' THEN '+' || substr(r.digits, 3)
         WHEN r.digits LIKE '0%' THEN '+' || coalesce(cc.cc, '44') || substr(r.digits, 2)
         ELSE '+' || coalesce(cc.cc, '44') || r.digits
       END AS phone
FROM raw r LEFT JOIN calling_codes cc ON cc.country = coalesce(r.country, 'GB')
WHERE r.id IS NOT NULL AND r.id <> '';

ANALYZE cust;

-- Cross-system links, strongest key first.
CREATE TEMP TABLE links AS
SELECT c.id AS crm_id, e.id AS erp_id, 'external_id' AS key
FROM cust c JOIN cust e ON e.system = 'erp' AND e.id = c.external_id
WHERE c.system = 'crm'
UNION
SELECT c.id, e.id, 'external_id'
FROM cust c JOIN cust e ON e.system = 'erp' AND e.external_id = c.id
WHERE c.system = 'crm'
UNION
SELECT c.id, e.id, 'email'
FROM cust c JOIN cust e ON e.system = 'erp' AND e.email = c.email
WHERE c.system = 'crm' AND c.email IS NOT NULL
UNION
SELECT c.id, e.id, 'phone'
FROM cust c JOIN cust e ON e.system = 'erp' AND e.phone = c.phone
WHERE c.system = 'crm' AND c.phone IS NOT NULL;

ANALYZE links;

CREATE TEMP TABLE findings AS
-- Duplicates inside one system by email or phone.
SELECT 'duplicate' AS type, 'customer' AS entity, c.system, c.id AS record_id, 'email:' || c.email AS key
FROM cust c JOIN (SELECT system, email FROM cust WHERE email IS NOT NULL GROUP BY system, email HAVING count(*) > 1) d
  ON d.system = c.system AND d.email = c.email
UNION ALL
SELECT 'duplicate', 'customer', c.system, c.id, 'phone:' || c.phone
FROM cust c JOIN (SELECT system, phone FROM cust WHERE phone IS NOT NULL GROUP BY system, phone HAVING count(*) > 1) d
  ON d.system = c.system AND d.phone = c.phone
UNION ALL
-- Orphans: no counterpart by any key.
SELECT 'orphan', 'customer', 'crm', c.id, ''
FROM cust c WHERE c.system = 'crm' AND NOT EXISTS (SELECT 1 FROM links l WHERE l.crm_id = c.id)
UNION ALL
SELECT 'orphan', 'customer', 'erp', e.id, ''
FROM cust e WHERE e.system = 'erp' AND NOT EXISTS (SELECT 1 FROM links l WHERE l.erp_id = e.id)
UNION ALL
-- Conflicts: one CRM record pointing at several ERP records through different keys.
SELECT 'conflict', 'customer', 'crm', crm_id, ''
FROM links GROUP BY crm_id HAVING count(DISTINCT erp_id) > 1
UNION ALL
-- Field mismatches on external-id links.
SELECT 'field_mismatch', 'customer', 'crm', l.crm_id, 'phone'
FROM links l JOIN cust c ON c.system = 'crm' AND c.id = l.crm_id JOIN cust e ON e.system = 'erp' AND e.id = l.erp_id
WHERE l.key = 'external_id' AND c.phone <> e.phone
UNION ALL
SELECT 'field_mismatch', 'customer', 'crm', l.crm_id, 'email'
FROM links l JOIN cust c ON c.system = 'crm' AND c.id = l.crm_id JOIN cust e ON e.system = 'erp' AND e.id = l.erp_id
WHERE l.key = 'external_id' AND c.email <> e.email;

-- Orders.
CREATE TEMP TABLE ord AS
SELECT 'crm' AS system, trim(o.id) AS id, nullif(trim(o.external_id), '') AS external_id, trim(o.customer_id) AS customer_id,
       CAST(o.amount AS DECIMAL(18, 4)) AS amount, upper(trim(o.currency)) AS currency, s.canonical AS status
FROM crm_o o LEFT JOIN status_map s ON s.system = 'crm' AND s.raw = o.status
UNION ALL
SELECT 'erp', trim(o.id), nullif(trim(o.external_id), ''), trim(o.customer_id),
       CAST(o.amount AS DECIMAL(18, 4)), upper(trim(o.currency)), s.canonical
FROM erp_o o LEFT JOIN status_map s ON s.system = 'erp' AND s.raw = o.status;

ANALYZE ord;

CREATE TEMP TABLE order_links AS
SELECT c.id AS crm_id, e.id AS erp_id
FROM ord c JOIN ord e ON e.system = 'erp' AND e.id = c.external_id
WHERE c.system = 'crm'
UNION
SELECT c.id, e.id
FROM ord c JOIN ord e ON e.system = 'erp' AND e.external_id = c.id
WHERE c.system = 'crm';

ANALYZE order_links;

INSERT INTO findings
SELECT 'status_mismatch', 'order', 'crm', l.crm_id, c.status || '/' || e.status
FROM order_links l JOIN ord c ON c.system = 'crm' AND c.id = l.crm_id JOIN ord e ON e.system = 'erp' AND e.id = l.erp_id
WHERE c.status <> e.status AND NOT EXISTS (SELECT 1 FROM compatible k WHERE k.crm = c.status AND k.erp = e.status)
UNION ALL
SELECT 'field_mismatch', 'order', 'crm', l.crm_id, 'amount'
FROM order_links l JOIN ord c ON c.system = 'crm' AND c.id = l.crm_id JOIN ord e ON e.system = 'erp' AND e.id = l.erp_id
WHERE c.amount <> e.amount OR c.currency <> e.currency
UNION ALL
SELECT 'missing_order', 'order', 'crm', c.id, ''
FROM ord c WHERE c.system = 'crm' AND c.status = 'won' AND NOT EXISTS (SELECT 1 FROM order_links l WHERE l.crm_id = c.id)
UNION ALL
SELECT 'duplicate', 'order', o.system, o.id, 'external_id:' || o.external_id
FROM ord o JOIN (SELECT system, external_id FROM ord WHERE external_id IS NOT NULL GROUP BY system, external_id HAVING count(*) > 1) d
  ON d.system = o.system AND d.external_id = o.external_id
UNION ALL
SELECT 'orphan', 'order', o.system, o.id, ''
FROM ord o WHERE NOT EXISTS (SELECT 1 FROM cust c WHERE c.system = o.system AND c.id = o.customer_id)
UNION ALL
SELECT 'invalid', 'order', o.system, o.id, 'status'
FROM ord o WHERE o.status IS NULL;
