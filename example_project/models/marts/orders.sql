{% set payment_methods = ['credit_card', 'coupon', 'bank_transfer', 'gift_card'] %}

with orders as (

    select * from {{ ref('greenhouse', 'stg_orders') }}

),

products as (

    select * from {{ ref('stg_products') }}

),

payments as (

    select * from {{ ref('stg_payments') }}

),

order_payments as (

    select
        order_id,
        {%- for payment_method in payment_methods %}
        sum(case when payment_method = '{{ payment_method }}' then amount else 0 end) as {{ payment_method }}_amount
        {%- if not loop.last %},{% endif %}
        {%- endfor %}

    from payments

    group by order_id

),

payment_totals as (

    select * from {{ ref('int_order_payments') }}

),

final as (

    select
        orders.order_id,
        orders.customer_id,
        orders.product_id,
        products.product_name,
        products.category,
        orders.quantity,
        orders.order_date,
        orders.status,

        {% for payment_method in payment_methods -%}
        coalesce(order_payments.{{ payment_method }}_amount, 0) as {{ payment_method }}_amount,
        {% endfor -%}

        coalesce(payment_totals.payment_count, 0) as payment_count,
        coalesce(payment_totals.total_amount, 0) as amount,
        round(orders.quantity * products.unit_price, 2) as line_total

    from orders

    left join products
        on orders.product_id = products.product_id

    left join order_payments
        on orders.order_id = order_payments.order_id

    left join payment_totals
        on orders.order_id = payment_totals.order_id

)

select * from final
