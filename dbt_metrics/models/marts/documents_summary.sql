-- Documents and chunks currently indexed.
select count(*) as total, coalesce(sum(chunk_count), 0) as chunks
from {{ ref('stg_documents') }}
where {{ lf_in_workspace('workspace') }}
