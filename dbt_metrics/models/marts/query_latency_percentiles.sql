-- Search latency (ms), one metric point per search.
{{ metric_percentiles('query_latency') }}
