{#- Hash a list of column expressions into one stable string key. Nulls are
    treated as empty strings so that the key is never null. -#}
{% macro surrogate_key(fields, separator='-') -%}
    {%- set parts = [] -%}
    {%- for field in fields -%}
        {%- do parts.append("coalesce(cast(" ~ field ~ " as varchar), '')") -%}
    {%- endfor -%}
    md5(cast({{ parts | join(" || '" ~ separator ~ "' || ") }} as varchar))
{%- endmacro %}
