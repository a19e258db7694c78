{{
    config(
        materialized='incremental',
        unique_key='order_date',
        incremental_strategy='merge',
        on_schema_change='append_new_columns'
    )
}}

-- Re-processes the latest loaded day on every incremental run, so late
-- payments for that day are merged in.
select
    order_date,
    count(*) as order_count,
    sum(quantity) as units_sold,
    sum(amount) as revenue,
    sum(case when status in ('returned', 'return_pending') then amount else 0 end) as returned_revenue

from {{ ref('orders') }}

{% if is_incremental() %}
where order_date >= (select max(order_date) from {{ this }})
{% endif %}

group by order_date
