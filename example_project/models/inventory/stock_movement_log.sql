{{
    config(
        materialized='incremental',
        incremental_strategy='append',
        on_schema_change='ignore'
    )
}}

-- Append-only log of the movement versions each load batch delivered: a restated movement
-- appears once per version.
select
    movement_id,
    product_id,
    location,
    movement_type,
    quantity,
    moved_at,
    load_batch
    {%- if var('load_batch', 1) >= 2 %},
    -- Added to the model in the second load; on_schema_change='ignore' keeps the table's
    -- columns, so this column is not written.
    case when movement_type = 'received' then quantity else -quantity end as signed_quantity
    {%- endif %}

from {{ ref('stg_stock_movements') }}

{% if is_incremental() %}
where load_batch > (select max(load_batch) from {{ this }})
{% endif %}
