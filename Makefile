.PHONY: demo test lint format bench manifest snapshot

demo:  ## connect this repository, ingest it on the embedded default, search, print the job summary
	scripts/demo.sh

test:  ## install what is missing, start PostgreSQL for the production tests, run the whole suite
	scripts/test.sh

manifest:  ## dbt parse of dbt_metrics into dbt_metrics/target/manifest.json, which the metrics code location loads
	PATH="$(CURDIR)/.venv/bin:$$PATH" .venv/bin/dagster-dbt project prepare-and-package \
		--file lightfast_pipeline/metrics/dbt_project.py

snapshot: manifest  ## regenerate tests/snapshots/definitions.json, the pinned graph of both code locations
	.venv/bin/python -m tests.support.snapshot

lint:
	.venv/bin/ruff check . && .venv/bin/ruff format --check .

format:
	.venv/bin/ruff format . && .venv/bin/ruff check --fix .

bench:
	.venv/bin/python benchmarks/ingest.py
