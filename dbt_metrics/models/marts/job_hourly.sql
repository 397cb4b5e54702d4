-- Every UTC hour that overlaps the range, including hours without jobs. success_rate is NULL for an hour
-- without finished (completed or failed) jobs; avg_duration_ms is over the hour's completed jobs.
with bounds as (
    select {{ lf_from() }} as range_from, {{ lf_to() }} as range_to
),
hours as (
    select unnest(generate_series(
        date_trunc('hour', range_from), range_to - interval 1 microsecond, interval 1 hour
    )) as hour
    from bounds
    where range_to > range_from
),
per_hour as (
    select
        j.created_hour as hour,
        count(*) as jobs,
        count(*) filter (where j.status = 'completed') as completed,
        count(*) filter (where j.status = 'failed') as failed,
        avg(j.duration_ms) filter (where j.status = 'completed') as avg_duration_ms
    from {{ ref('fct_jobs') }} as j, bounds as b
    where j.created_at >= b.range_from and j.created_at < b.range_to and {{ lf_in_workspace('j.workspace') }}
    group by 1
)
select
    h.hour,
    coalesce(p.jobs, 0) as jobs,
    coalesce(p.completed, 0) as completed,
    coalesce(p.failed, 0) as failed,
    p.avg_duration_ms,
    {{ success_rate('coalesce(p.completed, 0)', 'coalesce(p.failed, 0)') }} as success_rate
from hours as h
left join per_hour as p on p.hour = h.hour
order by h.hour
