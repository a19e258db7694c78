-- The source table is created by `dbt seed`; the hint below makes the seed an
-- explicit parent so a fresh `build` loads it first.
-- depends_on: {{ ref('raw_products') }}

select
    id as product_id,
    sku,
    name as product_name,
    category,
    price_cents,
    {{ cents_to_dollars('price_cents', scale=2) }} as unit_price,
    is_perennial,
    updated_at

from {{ source('shop_raw', 'raw_products') }}
