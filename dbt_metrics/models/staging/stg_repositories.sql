-- Sources are the connected repositories (active and not disconnected).
select
    r.id,
    r.uid,
    r.full_name,
    r.source_type,
    r.store_id,
    r.workspace_id,
    w.slug as workspace,
    coalesce(r.active, true) and r.disconnected_at is null as is_connected
from {{ source('raw', 'repositories') }} as r
left join {{ source('raw', 'workspaces') }} as w on w.id = r.workspace_id
