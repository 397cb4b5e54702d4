-- Health of the whole scope ('overall'), each workspace, store and source (connected repository) over the
-- finished jobs of the range: success rate >= 95 healthy, >= 80 degraded, else down; no finished job: idle.
with jobs as (
    select *
    from {{ ref('fct_jobs') }}
    where created_at >= {{ lf_from() }} and created_at < {{ lf_to() }}
      and status in ('completed', 'failed')
      and {{ lf_in_workspace('workspace') }}
),
entities as (
    select 'overall' as level, null::varchar as workspace, 'overall' as key
    union all
    select distinct 'workspace', slug, slug from {{ source('raw', 'workspaces') }} where {{ lf_in_workspace('slug') }}
    union all
    select 'store', workspace, slug from {{ ref('stg_stores') }} where {{ lf_in_workspace('workspace') }}
    union all
    select 'source', workspace, full_name from {{ ref('stg_repositories') }}
    where is_connected and {{ lf_in_workspace('workspace') }}
),
-- One aggregation pass: the four levels are grouping sets of the same scan.
counts as (
    select
        case
            when grouping(workspace) = 1 then 'overall'
            when grouping(store) = 0 then 'store'
            when grouping(repository_name) = 0 then 'source'
            else 'workspace'
        end as level,
        workspace,
        case
            when grouping(workspace) = 1 then 'overall'
            when grouping(store) = 0 then store
            when grouping(repository_name) = 0 then repository_name
            else workspace
        end as key,
        count(*) filter (where status = 'completed') as completed,
        count(*) filter (where status = 'failed') as failed
    from jobs
    group by grouping sets ((), (workspace), (workspace, store), (workspace, repository_name))
),
joined as (
    select
        e.level,
        e.workspace,
        e.key,
        coalesce(c.completed, 0) as completed,
        coalesce(c.failed, 0) as failed
    from entities as e
    left join counts as c
        on c.level = e.level and c.key = e.key and c.workspace is not distinct from e.workspace
)
select
    level,
    workspace,
    key,
    completed,
    failed,
    completed + failed as finished,
    {{ success_rate('completed', 'failed') }} as success_rate,
    {{ health_status(success_rate('completed', 'failed'), 'completed + failed') }} as status
from joined
order by level, workspace, key
