{#- amounts arrive in cents; cents_to_dollars() rounds to 2 decimals by default -#}
with source as (

    select * from {{ ref('raw_payments') }}

),

renamed as (

    select
        id as payment_id,
        order_id,
        payment_method,
        amount as amount_cents,
        {{ cents_to_dollars('amount') }} as amount

    from source

)

select * from renamed
