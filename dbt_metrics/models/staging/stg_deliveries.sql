select seq, delivery_id, event, action, repository_full_name, received_at, status, run_id, processed_at
from {{ source('raw', 'deliveries') }}
