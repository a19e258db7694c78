{#- Helpers projects and packages call while compiling. -#}

{% macro is_incremental_relation() %}{{ return(is_incremental()) }}{% endmacro %}

{% macro default__get_column_names() %}{{ return([]) }}{% endmacro %}

{# The column names of a query's result (dbt's: from the query run with no rows). #}
{% macro get_columns_in_query(select_sql) %}
  {% if not execute %}{{ return([]) }}{% endif %}
  {% set result = run_query('select * from (' ~ select_sql ~ ') as __dbt_sbq where false limit 0') %}
  {{ return(result.columns | map(attribute='name') | list) }}
{% endmacro %}

{% macro sql_convert_columns_in_relation(table) %}{{ return([]) }}{% endmacro %}

{# dbt's relation loaders: the relation as the warehouse has it, or none. #}
{% macro load_cached_relation(relation) %}
  {{ return(adapter.get_relation(database=relation.database, schema=relation.schema, identifier=relation.identifier)) }}
{% endmacro %}

{% macro load_relation(relation) %}
  {{ return(load_cached_relation(relation)) }}
{% endmacro %}
