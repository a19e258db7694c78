{#- order_statuses() hands back a list through return(); the macro itself
    extends it with {% do %} when returns are included. -#}
{%- set statuses = order_statuses(include_returns=true) -%}
{%- set measured = [] -%}
{%- set ns = namespace(fulfilled=0) -%}
{%- for status in statuses -%}
    {%- if status in ('shipped', 'completed') -%}
        {%- set ns.fulfilled = ns.fulfilled + 1 -%}
    {%- endif -%}
    {%- do measured.append(status) -%}
{%- endfor -%}

with orders as (

    select * from {{ ref('orders') }}

),

products as (

    select * from {{ ref('stg_products') }}

)

select
    products.product_id,
    products.product_name,
    products.category,
    {% call sum_by_status('orders.status', measured) -%}
        orders.quantity
    {%- endcall %},
    coalesce(sum(orders.amount), 0) as revenue,
    {{ adapter.dispatch('safe_divide', 'greenhouse')('sum(orders.amount)', 'sum(orders.quantity)') }} as revenue_per_unit,
    {{ ns.fulfilled }} as fulfilled_status_count,
    {{ measured | length }} as tracked_status_count

from products

left join orders
    on products.product_id = orders.product_id

group by products.product_id, products.product_name, products.category
