{{ config(materialized='table') }}
select customer, sum({{ to_cents('amount') }}) as total_cents, count(*) as orders
from {{ ref('stg_orders') }}
where amount >= {{ var('min_amount') }}
group by customer
