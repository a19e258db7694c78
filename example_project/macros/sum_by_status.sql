{#- One `sum(...)` column per status; the body of the {% call %} block is the
    value being summed, e.g.

        {% call sum_by_status('orders.status', ['placed', 'shipped']) %}orders.quantity{% endcall %}
-#}
{% macro sum_by_status(status_column, statuses, suffix='units') -%}
    {%- for status in statuses %}
    sum(case when {{ status_column }} = '{{ status }}' then {{ caller() }} else 0 end) as {{ status }}_{{ suffix }}
    {%- if not loop.last %},{% endif %}
    {%- endfor %}
{%- endmacro %}
