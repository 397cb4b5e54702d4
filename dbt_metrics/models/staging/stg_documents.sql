select d.id, d.store_id, s.workspace, d.repository_id, d.path, d.chunk_count, d.size_bytes, d.updated_at
from {{ source('raw', 'documents') }} as d
left join {{ ref('stg_stores') }} as s on s.id = d.store_id
