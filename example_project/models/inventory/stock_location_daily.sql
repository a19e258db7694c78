{{
    config(
        materialized='incremental',
        incremental_strategy='delete+insert',
        unique_key='movement_date',
        on_schema_change='sync_all_columns'
    )
}}

{%- set load_batch = var('load_batch', 1) %}

-- Movements per location and day. Every day a load touched is deleted and inserted again
-- whole. In the second load the model retires units_damaged and adds movement_count:
-- on_schema_change='sync_all_columns' drops and adds the table's columns to match.
with movements as (

    select * from {{ ref('stg_stock_movements') }}

)

select
    location,
    movement_date,
    sum(case when movement_type = 'received' then quantity else 0 end) as units_received,
    sum(case when movement_type = 'sold' then quantity else 0 end) as units_sold,
    {%- if load_batch >= 2 %}
    count(*) as movement_count,
    {%- else %}
    sum(case when movement_type = 'damaged' then quantity else 0 end) as units_damaged,
    {%- endif %}
    max(load_batch) as last_load_batch

from movements

{% if is_incremental() %}
where movement_date in (
    select movement_date from movements
    where load_batch > (select max(last_load_batch) from {{ this }})
)
{% endif %}

group by location, movement_date
