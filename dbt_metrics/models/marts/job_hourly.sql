-- Every UTC hour that overlaps the range, including hours without jobs. success_rate is NULL for an hour
-- without finished (completed or failed) jobs; avg_duration_ms is over the hour's completed jobs. Counted by
-- job_counts() (macros/formulas.sql): whole hours from the hourly rollup.
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
        hour,
        sum(runs)::bigint as jobs,
        coalesce(sum(runs) filter (where status = 'completed'), 0)::bigint as completed,
        coalesce(sum(runs) filter (where status = 'failed'), 0)::bigint as failed,
        {{ completed_mean() }} as avg_duration_ms
    from ({{ job_counts(lf_from(), lf_to()) }})
    where {{ lf_in_workspace('workspace') }}
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
