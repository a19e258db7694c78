with customers as (

    select * from {{ ref('stg_customers') }}

),

orders as (

    select * from {{ ref('orders') }}

),

customer_orders as (

    select
        customer_id,
        min(order_date) as first_order,
        max(order_date) as most_recent_order,
        count(order_id) as number_of_orders,
        sum(amount) as total_amount

    from orders

    group by customer_id

),

final as (

    select
        cast(customers.customer_id as integer) as customer_id,
        cast(customers.first_name as varchar) as first_name,
        cast(customers.last_name as varchar) as last_name,
        cast(customers.region as varchar) as region,
        cast(customer_orders.first_order as date) as first_order,
        cast(customer_orders.most_recent_order as date) as most_recent_order,
        cast(coalesce(customer_orders.number_of_orders, 0) as bigint) as number_of_orders,
        cast(coalesce(customer_orders.total_amount, 0) as double) as lifetime_value

    from customers

    left join customer_orders
        on customers.customer_id = customer_orders.customer_id

)

select * from final
