.PHONY: demo test lint format bench

demo:  ## connect this repository, ingest it on the embedded default, search, print the job summary
	scripts/demo.sh

test:  ## install what is missing, start PostgreSQL for the production tests, run the whole suite
	scripts/test.sh

lint:
	.venv/bin/ruff check . && .venv/bin/ruff format --check .

format:
	.venv/bin/ruff format . && .venv/bin/ruff check --fix .

bench:
	.venv/bin/python benchmarks/ingest.py
