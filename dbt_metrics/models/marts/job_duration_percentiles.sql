-- Duration percentiles (ms) of the completed jobs of the range; estimator in macros/formulas.sql.
select {{ percentile_columns() }}
from (
    select {{ percentiles('duration_ms') }}
    from {{ ref('fct_jobs') }}
    where status = 'completed'
      and created_at >= {{ lf_from() }} and created_at < {{ lf_to() }}
      and {{ lf_in_workspace('workspace') }}
)
