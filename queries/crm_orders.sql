-- CRM deals → recon orders. Required: id, status. Optional: external_id, customer_id, amount,
-- currency, created_at, updated_at. channel is an attribute compared with the ERP's channel.
SELECT deal_id        AS id,
       stage          AS status,
       erp_order_ref  AS external_id,
       contact_id     AS customer_id,
       deal_value     AS amount,
       currency_code  AS currency,
       created_on     AS created_at,
       modified_at    AS updated_at,
       channel
FROM crm.deals
