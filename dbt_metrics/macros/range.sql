{#
  The range every range model reads, as DuckDB session variables set by the reader (the CLI, the metrics
  asset, an analyst):
    SET VARIABLE lf_from = TIMESTAMP '2026-01-01 00:00:00';  -- inclusive, UTC
    SET VARIABLE lf_to   = TIMESTAMP '2026-01-02 00:00:00';  -- exclusive, UTC
    SET VARIABLE lf_workspace = 'acme';                      -- optional workspace slug
  Unset: the last 24 hours up to now (UTC), all workspaces. A run belongs to the range holding its created_at.
#}
{% macro lf_now() -%}
    date_trunc('second', timezone('UTC', current_timestamp))
{%- endmacro %}

{% macro lf_to() -%}
    coalesce(getvariable('lf_to')::timestamp, {{ lf_now() }})
{%- endmacro %}

{% macro lf_from() -%}
    coalesce(getvariable('lf_from')::timestamp, {{ lf_to() }} - interval 24 hours)
{%- endmacro %}

{# The previous period: as long as the range, ending where it starts. #}
{% macro lf_previous_from() -%}
    ({{ lf_from() }} - ({{ lf_to() }} - {{ lf_from() }}))
{%- endmacro %}

{% macro lf_in_workspace(column) -%}
    (getvariable('lf_workspace') is null or {{ column }} = getvariable('lf_workspace')::varchar)
{%- endmacro %}
