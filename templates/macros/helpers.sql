{#- Helpers projects and packages call while compiling. -#}

{% macro is_incremental_relation() %}{{ return(is_incremental()) }}{% endmacro %}

{% macro default__get_column_names() %}{{ return([]) }}{% endmacro %}

{% macro get_columns_in_query(select_sql) %}{{ return([]) }}{% endmacro %}

{% macro sql_convert_columns_in_relation(table) %}{{ return([]) }}{% endmacro %}
