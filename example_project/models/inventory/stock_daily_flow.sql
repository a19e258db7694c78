{{
    config(
        materialized='incremental',
        incremental_strategy='merge',
        unique_key=['product_id', 'location', 'movement_date'],
        merge_exclude_columns=['first_loaded_batch'],
        incremental_predicates=["DBT_INTERNAL_DEST.movement_date >= cast('2024-06-01' as date)"],
        on_schema_change='append_new_columns'
    )
}}

{%- set load_batch = var('load_batch', 1) %}

-- Units in and out per product, location and day. A load re-aggregates every day it touched
-- (new, late or restated movements) and merges those days in; first_loaded_batch keeps the
-- batch that first created the row (merge_exclude_columns). The predicate limits the merge's
-- scan of the table to the days a load can touch.
with movements as (

    select * from {{ ref('stg_stock_movements') }}

),

touched_days as (

    select distinct product_id, location, movement_date
    from movements
    {% if is_incremental() %}
    where load_batch > (select max(last_load_batch) from {{ this }})
    {% endif %}

)

select
    movements.product_id,
    movements.location,
    movements.movement_date,
    sum(case when movements.movement_type = 'received' then movements.quantity else 0 end) as units_received,
    sum(case when movements.movement_type = 'sold' then movements.quantity else 0 end) as units_sold,
    sum(case when movements.movement_type = 'damaged' then movements.quantity else 0 end) as units_damaged,
    {%- if load_batch >= 2 %}
    -- Added in the second load: on_schema_change='append_new_columns' adds it to the table.
    sum(case when movements.movement_type = 'received' then movements.quantity else -movements.quantity end) as units_net,
    {%- endif %}
    max(movements.load_batch) as last_load_batch,
    {{ load_batch }} as first_loaded_batch

from movements

inner join touched_days
    on movements.product_id = touched_days.product_id
    and movements.location = touched_days.location
    and movements.movement_date = touched_days.movement_date

group by movements.product_id, movements.location, movements.movement_date
