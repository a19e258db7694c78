{{ config(materialized='ephemeral') }}

-- Per-order payment totals; inlined as a CTE wherever it is referenced.
select
    order_id,
    count(*) as payment_count,
    sum(amount_cents) as total_amount_cents,
    sum(amount) as total_amount

from {{ ref('stg_payments') }}

group by order_id
