-- Every order must be paid in full: the payments recorded against an order add
-- up to quantity x unit price. Returns the offending orders.
select
    order_id,
    amount,
    line_total

from {{ ref('orders') }}

where abs(amount - line_total) > 0.005
