-- ERP sales orders → recon orders.
SELECT so_number     AS id,
       order_state   AS status,
       crm_deal_ref  AS external_id,
       cust_no       AS customer_id,
       net_total     AS amount,
       curr          AS currency,
       order_date    AS created_at,
       last_changed  AS updated_at,
       channel
FROM erp.sales_orders
