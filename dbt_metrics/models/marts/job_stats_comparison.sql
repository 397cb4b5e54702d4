-- The range against the previous period of the same length; change_pct is NULL when previous is 0 or NULL.
with current_period as ({{ job_stats(lf_from(), lf_to()) }}),
previous_period as ({{ job_stats(lf_previous_from(), lf_from()) }})
{% for field in ['total', 'completed', 'failed', 'cancelled', 'success_rate', 'avg_duration_ms'] %}
select
    {{ loop.index }} as position,
    '{{ field }}' as field,
    c.{{ field }}::double as current,
    p.{{ field }}::double as previous,
    {{ change_pct('c.' ~ field, 'p.' ~ field) }} as change_pct
from current_period as c, previous_period as p
{% if not loop.last %}union all{% endif %}
{% endfor %}
