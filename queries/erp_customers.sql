-- ERP customers → recon customers.
SELECT cust_no          AS id,
       crm_contact_ref  AS external_id,   -- the CRM contact id, as the ERP stores it
       email,
       tel              AS phone,
       contact_name     AS name,
       country,
       last_changed     AS updated_at,
       segment
FROM erp.customers
