{#- The order statuses the shop knows about, in lifecycle order. -#}
{% macro order_statuses(include_returns=true) %}
    {%- set statuses = ['placed', 'shipped', 'completed'] -%}
    {%- if include_returns -%}
        {%- do statuses.extend(['return_pending', 'returned']) -%}
    {%- endif -%}
    {{ return(statuses) }}
{% endmacro %}
