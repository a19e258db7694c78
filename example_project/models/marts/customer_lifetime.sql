{#- Orders below the `min_order_amount` var (dollars) are ignored. -#}
{%- set min_amount = var('min_order_amount', 0) -%}
{%- set shop = var('shop') -%}

with customers as (

    select * from {{ ref('stg_customers') }}

),

qualifying_orders as (

    select *
    from {{ ref('orders') }}
    where amount >= {{ min_amount }}
      and status in ({{ "'" ~ order_statuses(include_returns=false) | join("', '") ~ "'" }})

),

per_customer as (

    select
        customer_id,
        count(*) as qualifying_orders,
        sum(amount) as qualifying_revenue,
        sum(case when amount >= {{ shop['free_shipping_threshold'] }} then 1 else 0 end) as free_shipping_orders

    from qualifying_orders

    group by customer_id

)

select
    {{ greenhouse_utils.surrogate_key(['customers.customer_id', 'customers.region']) }} as customer_key,
    customers.customer_id,
    customers.region,
    coalesce(per_customer.qualifying_orders, 0) as qualifying_orders,
    coalesce(per_customer.qualifying_revenue, 0) as qualifying_revenue,
    coalesce(per_customer.free_shipping_orders, 0) as free_shipping_orders,
    {{ safe_divide('per_customer.qualifying_revenue', 'per_customer.qualifying_orders') }} as avg_order_value,
    round(coalesce(per_customer.qualifying_revenue, 0) * {{ shop['vat_rate'] }}, 2) as vat_included,
    '{{ shop["currency"] }}' as currency

from customers

left join per_customer
    on customers.customer_id = per_customer.customer_id
