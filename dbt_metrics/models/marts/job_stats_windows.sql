-- Job statistics over the fixed windows ending at lf_to (now by default).
{% for window, length in [('24h', '24 hours'), ('7d', '7 days'), ('30d', '30 days')] %}
select '{{ window }}' as window, *
from ({{ job_stats(lf_to() ~ " - interval " ~ length, lf_to()) }})
{% if not loop.last %}union all{% endif %}
{% endfor %}
