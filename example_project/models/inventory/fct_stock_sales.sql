{{
    config(
        materialized='incremental',
        incremental_strategy='microbatch',
        event_time='moved_at',
        batch_size='month',
        begin='2024-05-01',
        lookback=2
    )
}}

-- Sales movements valued at list price, built one month at a time: stg_stock_movements
-- declares event_time, so each batch reads only its month. A later run redoes the last
-- `lookback` months only; older restatements are not picked up (use --full-refresh).
select
    movements.movement_id,
    movements.product_id,
    movements.location,
    movements.moved_at,
    movements.quantity,
    round(movements.quantity * products.unit_price, 2) as sales_value

from {{ ref('stg_stock_movements') }} as movements

inner join {{ ref('stg_products') }} as products
    on movements.product_id = products.product_id

where movements.movement_type = 'sold'
