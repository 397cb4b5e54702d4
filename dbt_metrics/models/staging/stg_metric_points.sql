select
    p.id,
    p.recorded_at,
    p.type,
    p.value,
    p.unit,
    p.tags,
    p.workspace_id,
    w.slug as workspace,
    p.repository_id
from {{ source('raw', 'metric_points') }} as p
left join {{ source('raw', 'workspaces') }} as w on w.id = p.workspace_id
