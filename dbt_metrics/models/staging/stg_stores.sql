select s.id, s.slug, s.workspace_id, w.slug as workspace, s.embedding_provider, s.embedding_model, s.vector_backend
from {{ source('raw', 'stores') }} as s
left join {{ source('raw', 'workspaces') }} as w on w.id = s.workspace_id
