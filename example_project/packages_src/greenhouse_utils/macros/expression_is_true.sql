{#- Passes when `expression` holds on every row of the model (optionally only
    for one column, when attached to a column). -#}
{% test expression_is_true(model, expression, column_name=None) %}

select *
from {{ model }}
{% if column_name is none %}
where not ({{ expression }})
{%- else %}
where not ({{ column_name }} {{ expression }})
{%- endif %}

{% endtest %}
