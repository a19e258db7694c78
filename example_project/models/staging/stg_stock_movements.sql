{{ config(event_time='moved_at') }}

{#- The warehouse feed delivers stock movements in load batches. The `load_batch` var (default 1)
    says how many batches have arrived: `weir build --vars '{load_batch: 2}'` is the next day's
    run with new data. A later batch may restate a movement (same id, corrected quantity); only
    its latest version is kept. event_time lets microbatch children read one batch window. -#}
with received as (

    select * from {{ ref('raw_stock_movements') }}
    where load_batch <= {{ var('load_batch', 1) }}

),

ranked as (

    select
        *,
        row_number() over (partition by id order by load_batch desc) as version_rank

    from received

)

select
    id as movement_id,
    product_id,
    location,
    movement_type,
    quantity,
    cast(moved_at as timestamp) as moved_at,
    cast(moved_at as date) as movement_date,
    load_batch

from ranked

where version_rank = 1
