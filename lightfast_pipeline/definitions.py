"""The one Definitions object: composes domains and resources, nothing else."""

from dagster import Definitions

from lightfast_pipeline.assets.ingestion import ingest_repository_job, ingestion_assets
from lightfast_pipeline.resources.lightfast import CatalogResource, EmbedderResource, VectorStoreResource
defs = Definitions(
    assets=[*ingestion_assets],
    jobs=[ingest_repository_job],
    sensors=[],
    schedules=[],
    resources={
        "catalog": CatalogResource(),
        "embedder": EmbedderResource(),
        "vector_store": VectorStoreResource(),
    },
)
