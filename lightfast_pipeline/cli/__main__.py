"""`python -m lightfast_pipeline.cli` runs the `lightfast` command."""

from lightfast_pipeline.cli.app import main

main()
