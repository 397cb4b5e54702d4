-- One row per ingestion job (a Dagster run of the ingestion job), with its workspace, source and store.
-- A job belongs to the hour and the range that hold its created_at (UTC); duration_ms = ended - started.
-- Repositories are joined to their store first (a few rows), so each run is probed against one small table.
with repositories as (
    select repo.uid, repo.workspace, repo.full_name, repo.source_type, s.slug as store
    from {{ ref('stg_repositories') }} as repo
    left join {{ ref('stg_stores') }} as s on s.id = repo.store_id
)
select
    r.run_id,
    r.status,
    r.trigger,
    r.user_name,
    coalesce(r.workspace, repo.workspace) as workspace,
    r.repository_uid,
    repo.full_name as repository_name,
    repo.source_type,
    repo.store,
    r.delivery_id,
    r.created_at,
    date_trunc('hour', r.created_at) as created_hour,
    r.started_at,
    r.ended_at,
    r.duration_ms
from {{ ref('stg_runs') }} as r
left join repositories as repo on repo.uid = r.repository_uid
where r.job_name = '{{ var("ingest_job") }}'
