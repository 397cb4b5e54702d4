"""The LIGHTFAST_FAULT switch: what it accepts, and that a wrong one is one clear error (not a silent no-op)."""

from __future__ import annotations

import pytest

from lightfast_pipeline.ingestion.faults import Fault, parse_fault
from lightfast_pipeline.settings import load_ingest_settings


def test_fault_specs_name_a_point_and_optionally_a_batch() -> None:
    assert parse_fault("after:upsert") == Fault("after", "upsert")
    assert parse_fault("before:commit:batch=2") == Fault("before", "commit", 2)
    assert parse_fault("after:rebuild-drop") == Fault("after", "rebuild-drop")


@pytest.mark.parametrize("spec", ["upsert", "during:upsert", "after:flush", "after:upsert:batch=0", "after:upsert:b=2"])
def test_a_wrong_fault_spec_is_refused(spec: str) -> None:
    with pytest.raises(ValueError, match="LIGHTFAST_FAULT"):
        parse_fault(spec)


def test_ingest_batch_size_comes_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("LIGHTFAST_INGEST_BATCH", raising=False)
    monkeypatch.delenv("LIGHTFAST_FAULT", raising=False)
    assert (load_ingest_settings().batch_documents, load_ingest_settings().fault) == (300, None)
    monkeypatch.setenv("LIGHTFAST_INGEST_BATCH", "0")
    with pytest.raises(ValueError, match="at least 1"):
        load_ingest_settings()
