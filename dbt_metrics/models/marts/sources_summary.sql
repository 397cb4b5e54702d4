-- Connected sources (repositories) by type.
select source_type, count(*) as total
from {{ ref('stg_repositories') }}
where is_connected and {{ lf_in_workspace('workspace') }}
group by source_type
order by source_type
