-- Ad-hoc: the three most valuable customers in each region.
with ranked as (

    select
        region,
        customer_id,
        first_name,
        last_name,
        lifetime_value,
        row_number() over (partition by region order by lifetime_value desc, customer_id) as region_rank

    from {{ ref('customers') }}

)

select *
from ranked
where region_rank <= 3
order by region, region_rank
