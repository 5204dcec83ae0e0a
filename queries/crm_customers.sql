-- CRM contacts → recon customers.
-- Required: id. Optional: external_id, email, phone, name, country, updated_at.
-- Any other column (segment here) is an attribute: carried into reports and compared with the
-- ERP's column of the same name.
SELECT contact_id                       AS id,
       erp_account_ref                  AS external_id,   -- the ERP customer number, as the CRM stores it
       email_address                    AS email,
       phone_number                     AS phone,
       concat_ws(' ', first_name, last_name) AS name,
       country_code                     AS country,
       modified_at                      AS updated_at,
       segment
FROM crm.contacts
ORDER BY row_id
