-- Job statistics over the range (see macros/range.sql).
{{ job_stats(lf_from(), lf_to()) }}
