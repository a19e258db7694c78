{{
    config(
        materialized='incremental',
        incremental_strategy=('insert_overwrite' if target.type == 'datafusion' else 'delete+insert'),
        partition_by=['location'],
        unique_key='location',
        on_schema_change='fail'
    )
}}

-- Units on hand per product and location. Each location is one partition; a load rebuilds
-- only the locations it touched and replaces those partitions whole (insert_overwrite).
-- DuckDB has no insert_overwrite, so there the model runs delete+insert on the location
-- (unique_key, used by that strategy only), which leaves the same rows.
with movements as (

    select * from {{ ref('stg_stock_movements') }}

),

touched_locations as (

    select distinct location
    from movements
    {% if is_incremental() %}
    where load_batch > (select max(last_load_batch) from {{ this }})
    {% endif %}

)

select
    movements.location,
    movements.product_id,
    sum(case when movements.movement_type = 'received' then movements.quantity else -movements.quantity end) as units_on_hand,
    max(movements.moved_at) as last_moved_at,
    max(movements.load_batch) as last_load_batch

from movements

where movements.location in (select location from touched_locations)

group by movements.location, movements.product_id
