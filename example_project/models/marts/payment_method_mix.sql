{{ config(tags=['finance'], alias='finance_payment_mix') }}

{%- set labels = fromjson('{"credit_card": "Credit card", "coupon": "Coupon", "bank_transfer": "Bank transfer", "gift_card": "Gift card"}') -%}
{%- set fee_rates = fromyaml('
credit_card: 0.029
bank_transfer: 0.004
coupon: 0
gift_card: 0
') -%}

-- labels: {{ tojson(labels) }}
-- relation: {{ this.identifier }} (materialized as {{ config.get('materialized') }})

with payments as (

    select
        payment_method,
        amount,
        case payment_method
            {%- for method, label in labels.items() %}
            when '{{ method }}' then '{{ label }}'
            {%- endfor %}
        end as payment_label,
        case payment_method
            {%- for method in fee_rates %}
            when '{{ method }}' then {{ fee_rates[method] }}
            {%- endfor %}
            else 0
        end as fee_rate

    from {{ ref('stg_payments') }}

)

select
    payment_method,
    payment_label,
    count(*) as payment_count,
    sum(amount) as total_amount,
    round(sum(amount * fee_rate), 2) as estimated_fees,
    '{{ this.identifier }}' as relation_name,
    '{{ config.get("materialized") }}' as materialized_as

from payments

group by payment_method, payment_label
