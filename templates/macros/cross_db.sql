{#- Cross-database macros (dbt's `dbt.*` namespace) for DataFusion's PostgreSQL-like SQL. -#}

{% macro type_string() %}{{ return(adapter.dispatch('type_string', 'dbt')()) }}{% endmacro %}
{% macro default__type_string() %}{{ return('varchar') }}{% endmacro %}
{% macro type_timestamp() %}{{ return(adapter.dispatch('type_timestamp', 'dbt')()) }}{% endmacro %}
{% macro default__type_timestamp() %}{{ return('timestamp') }}{% endmacro %}
{% macro type_float() %}{{ return(adapter.dispatch('type_float', 'dbt')()) }}{% endmacro %}
{% macro default__type_float() %}{{ return('double') }}{% endmacro %}
{% macro type_numeric() %}{{ return(adapter.dispatch('type_numeric', 'dbt')()) }}{% endmacro %}
{% macro default__type_numeric() %}{{ return('decimal(28, 6)') }}{% endmacro %}
{% macro type_bigint() %}{{ return(adapter.dispatch('type_bigint', 'dbt')()) }}{% endmacro %}
{% macro default__type_bigint() %}{{ return('bigint') }}{% endmacro %}
{% macro type_int() %}{{ return(adapter.dispatch('type_int', 'dbt')()) }}{% endmacro %}
{% macro default__type_int() %}{{ return('integer') }}{% endmacro %}
{% macro type_boolean() %}{{ return(adapter.dispatch('type_boolean', 'dbt')()) }}{% endmacro %}
{% macro default__type_boolean() %}{{ return('boolean') }}{% endmacro %}

{% macro current_timestamp() %}{{ adapter.dispatch('current_timestamp', 'dbt')() }}{% endmacro %}
{% macro default__current_timestamp() %}now(){% endmacro %}

{% macro concat(fields) %}{{ adapter.dispatch('concat', 'dbt')(fields) }}{% endmacro %}
{% macro default__concat(fields) %}{{ fields | join(' || ') }}{% endmacro %}

{% macro hash(field) %}{{ adapter.dispatch('hash', 'dbt')(field) }}{% endmacro %}
{% macro default__hash(field) %}md5(cast({{ field }} as {{ type_string() }})){% endmacro %}

{% macro safe_cast(field, type) %}{{ adapter.dispatch('safe_cast', 'dbt')(field, type) }}{% endmacro %}
{% macro default__safe_cast(field, type) %}try_cast({{ field }} as {{ type }}){% endmacro %}

{% macro cast(field, type) %}{{ adapter.dispatch('cast', 'dbt')(field, type) }}{% endmacro %}
{% macro default__cast(field, type) %}cast({{ field }} as {{ type }}){% endmacro %}

{% macro dateadd(datepart, interval, from_date_or_timestamp) %}{{ adapter.dispatch('dateadd', 'dbt')(datepart, interval, from_date_or_timestamp) }}{% endmacro %}
{% macro default__dateadd(datepart, interval, from_date_or_timestamp) %}({{ from_date_or_timestamp }} + ({{ interval }}) * interval '1 {{ datepart }}'){% endmacro %}

{% macro datediff(first_date, second_date, datepart) %}{{ adapter.dispatch('datediff', 'dbt')(first_date, second_date, datepart) }}{% endmacro %}
{% macro default__datediff(first_date, second_date, datepart) %}datediff('{{ datepart }}', {{ first_date }}, {{ second_date }}){% endmacro %}

{% macro date_trunc(datepart, date) %}{{ adapter.dispatch('date_trunc', 'dbt')(datepart, date) }}{% endmacro %}
{% macro default__date_trunc(datepart, date) %}date_trunc('{{ datepart }}', {{ date }}){% endmacro %}

{% macro last_day(date, datepart) %}{{ adapter.dispatch('last_day', 'dbt')(date, datepart) }}{% endmacro %}
{% macro default__last_day(date, datepart) %}cast(date_trunc('{{ datepart }}', {{ date }}) + interval '1 {{ datepart }}' - interval '1 day' as date){% endmacro %}

{% macro split_part(string_text, delimiter_text, part_number) %}{{ adapter.dispatch('split_part', 'dbt')(string_text, delimiter_text, part_number) }}{% endmacro %}
{% macro default__split_part(string_text, delimiter_text, part_number) %}split_part({{ string_text }}, {{ delimiter_text }}, {{ part_number }}){% endmacro %}

{% macro length(expression) %}{{ adapter.dispatch('length', 'dbt')(expression) }}{% endmacro %}
{% macro default__length(expression) %}length({{ expression }}){% endmacro %}

{% macro position(substring_text, string_text) %}{{ adapter.dispatch('position', 'dbt')(substring_text, string_text) }}{% endmacro %}
{% macro default__position(substring_text, string_text) %}strpos({{ string_text }}, {{ substring_text }}){% endmacro %}

{% macro replace(field, old_chars, new_chars) %}{{ adapter.dispatch('replace', 'dbt')(field, old_chars, new_chars) }}{% endmacro %}
{% macro default__replace(field, old_chars, new_chars) %}replace({{ field }}, {{ old_chars }}, {{ new_chars }}){% endmacro %}

{% macro right(string_text, length_expression) %}{{ adapter.dispatch('right', 'dbt')(string_text, length_expression) }}{% endmacro %}
{% macro default__right(string_text, length_expression) %}right({{ string_text }}, {{ length_expression }}){% endmacro %}

{% macro listagg(measure, delimiter_text="','", order_by_clause=none, limit_num=none) %}{{ adapter.dispatch('listagg', 'dbt')(measure, delimiter_text, order_by_clause, limit_num) }}{% endmacro %}
{% macro default__listagg(measure, delimiter_text, order_by_clause, limit_num) %}string_agg({{ measure }}, {{ delimiter_text }}{% if order_by_clause %} {{ order_by_clause }}{% endif %}){% endmacro %}

{% macro any_value(expression) %}{{ adapter.dispatch('any_value', 'dbt')(expression) }}{% endmacro %}
{% macro default__any_value(expression) %}first_value({{ expression }}){% endmacro %}

{% macro bool_or(expression) %}{{ adapter.dispatch('bool_or', 'dbt')(expression) }}{% endmacro %}
{% macro default__bool_or(expression) %}bool_or({{ expression }}){% endmacro %}

{% macro except() %}{{ adapter.dispatch('except', 'dbt')() }}{% endmacro %}
{% macro default__except() %}except{% endmacro %}

{% macro intersect() %}{{ adapter.dispatch('intersect', 'dbt')() }}{% endmacro %}
{% macro default__intersect() %}intersect{% endmacro %}

{% macro string_literal(value) %}{{ adapter.dispatch('string_literal', 'dbt')(value) }}{% endmacro %}
{% macro default__string_literal(value) %}'{{ value }}'{% endmacro %}

{% macro escape_single_quotes(expression) %}{{ adapter.dispatch('escape_single_quotes', 'dbt')(expression) }}{% endmacro %}
{% macro default__escape_single_quotes(expression) %}{{ expression | replace("'", "''") }}{% endmacro %}

{% macro cast_bool_to_text(field) %}{{ adapter.dispatch('cast_bool_to_text', 'dbt')(field) }}{% endmacro %}
{% macro default__cast_bool_to_text(field) %}cast({{ field }} as {{ type_string() }}){% endmacro %}

{% macro array_construct(inputs=[], data_type=none) %}{{ adapter.dispatch('array_construct', 'dbt')(inputs, data_type) }}{% endmacro %}
{% macro default__array_construct(inputs, data_type) %}make_array({{ inputs | join(', ') }}){% endmacro %}
