{%- set region = env_var('GREENHOUSE_REGION', 'eu') -%}
{%- set report_start = modules.datetime.date(2024, 1, 1) -%}
{%- set report_end = report_start.replace(year=report_start.year + 1) -%}

-- Monthly revenue for one sales region (GREENHOUSE_REGION, default 'eu'),
-- reported for {{ report_start.year }} and written to {{ this }}.

with months as (

    select * from {{ ref('greenhouse_utils', 'calendar_months') }}

),

regional_orders as (

    select
        orders.order_date,
        orders.amount

    from {{ ref('orders') }} as orders

    inner join {{ ref('stg_customers') }} as customers
        on orders.customer_id = customers.customer_id

    where customers.region = '{{ region }}'
      and orders.order_date >= cast('{{ report_start.isoformat() }}' as date)
      and orders.order_date < cast('{{ report_end.isoformat() }}' as date)

),

monthly as (

    select
        cast(date_trunc('month', order_date) as date) as order_month,
        count(*) as order_count,
        sum(amount) as revenue

    from regional_orders

    group by cast(date_trunc('month', order_date) as date)

),

calendar as (

    select
        months.month_number,
        months.month_name,
        cast(
            '{{ report_start.year }}-' || lpad(cast(months.month_number as varchar), 2, '0') || '-01'
            as date
        ) as order_month

    from months

)

select
    calendar.order_month,
    calendar.month_name,
    '{{ region }}' as region,
    coalesce(monthly.order_count, 0) as order_count,
    coalesce(monthly.revenue, 0) as revenue,
    sum(coalesce(monthly.revenue, 0)) over (
        order by calendar.order_month
        rows between unbounded preceding and current row
    ) as running_revenue

from calendar

left join monthly
    on calendar.order_month = monthly.order_month
