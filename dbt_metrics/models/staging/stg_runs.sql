select
    run_id,
    job_name,
    status,
    dagster_status,
    trigger,
    user_name,
    workspace,
    repository_uid,
    delivery_id,
    created_at,
    started_at,
    ended_at,
    duration_ms::double as duration_ms
from {{ source('raw', 'runs') }}
