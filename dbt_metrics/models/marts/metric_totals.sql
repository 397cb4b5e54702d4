-- Sum and count of every metric type recorded in the range (documents_indexed, api_calls, errors, ...).
select type, unit, sum(value) as total, count(*) as points
from {{ ref('stg_metric_points') }}
where recorded_at >= {{ lf_from() }} and recorded_at < {{ lf_to() }} and {{ lf_in_workspace('workspace') }}
group by type, unit
order by type
