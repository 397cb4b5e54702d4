-- Delivery received -> its ingestion run completed (ms), recorded per delivery as metric points.
{{ metric_percentiles('time_to_searchable') }}
