"""The embedded default vector store: LanceDB on local disk, one table per namespace.

Correct with several writer processes, readers and a kill -9 under these conditions, all kept here:

- every write of a table (append, merge_insert, delete, index creation, optimize) holds an exclusive ``flock``
  on ``<uri>/_locks/<table>.lock``. Measured with lancedb 0.40: two processes ``merge_insert``-ing the same
  ids in commits of 500 left 3,945 rows for 3,000 ids even with a BTREE index on ``id``; with the lock,
  0 duplicates and a faster run (no commit conflicts). The OS drops the lock of a killed process. Remote
  URIs (``s3://`` …) get no lock: use them with one writer per namespace;
- a BITMAP index on ``repository`` created with the table (the repository filter reads its rows from the
  bitmap, not a column scan), and a bloom filter on ``id`` made by the first index maintenance (an upsert's
  probe of its ids, ``IN`` deletes and fetches; ``lancedb_maintenance.py``);
- ids unique inside one write (LanceDB would insert a repeated id twice); an upsert appends the ids the table
  lacks and merges only the others, its probe of the ids and its commits under one lock (``_insert_or_update``);
  large batches, and a retry with backoff on commit conflicts (e.g. beside a concurrent ``optimize``);
- readers check for a newer table version on every read (``read_consistency_interval`` 0 s by default:
  a local manifest check is cheap, and a search right after another process's write must see it).

Search is exact (brute-force cosine) until a table reaches ``IndexPolicy.min_rows`` vectors; from then on an
IVF_SQ index is built, refreshed and retrained as the table grows (``lancedb_index.py``): the writer that crosses
a threshold starts a short-lived child process to do it and waits (``lancedb_child.py``), so the writer's own
memory does not grow with the table, and the child works in bounded segments (``lancedb_maintenance.py``;
decision and figures in docs/architecture.md). The child opens ``<uri>/<table>.lance`` with Lance itself, so
``uri`` is a directory or an object-store path (``s3://`` …), not a LanceDB Cloud ``db://`` database. A
repository filter is a prefilter either way: only that repository's rows are ranked, and k of them are
returned whenever k exist.
:meth:`LanceDBVectorStore.optimize` (``lightfast store optimize``: compaction, index refresh, removal of old
versions) should also run on a schedule: every write adds a version.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import re
import warnings
from collections.abc import Callable, Iterator, Mapping, Sequence
from datetime import timedelta
from functools import cached_property
from typing import Any, TypeVar

import pyarrow as pa
import pyarrow.compute as pc

from lightfast_pipeline.vectorstores import native_heap
from lightfast_pipeline.vectorstores.base import (
    FILTERABLE_FIELDS,
    VectorMatch,
    VectorRecord,
    VectorStoreError,
    check_filter,
)
from lightfast_pipeline.vectorstores.lancedb_child import maintain_in_child
from lightfast_pipeline.vectorstores.lancedb_index import (
    IndexAction,
    IndexPolicy,
    IndexState,
    index_state,
    maintenance_due,
    tune,
)
from lightfast_pipeline.vectorstores.table_writes import lock_dir_of, retry_conflicts, table_lock

log = logging.getLogger(__name__)

T = TypeVar("T")

WRITE_BATCH = 5_000
DELETE_BATCH = 1_000
LIST_BATCH = 10_000  # ids read at a time by list_ids
# Caches of the connection every operation but search uses (LanceDB's defaults: 6 GiB index, 1 GiB metadata).
# Every write is a table version: LanceDB caches each version's manifest and file metadata, and the index data
# each version reads; old versions are never read again but were never evicted, so a writer's caches grew faster
# than its rows (38 MB after 100,000 rows in batches of 300, README "Measured at scale"). Searches use a
# connection with the default caches: a search process keeps its vector index there. Caps of 32 and 16 MiB were
# still a writer's largest growing part (35 MB held at 97,500 rows, ~0.45 MB per 1,000 rows, so full at 250,000);
# at 2 MiB each the upserts took the same CPU (53 against 55 ms each, 60,000 to 96,000 rows) and the writer's
# malloc heap stayed flat (README "What grows while batches are written").
WRITER_INDEX_CACHE_BYTES = 2 << 20
WRITER_METADATA_CACHE_BYTES = 2 << 20
SCALAR_INDEXED = ("repository",)  # BITMAP; the id index is the maintenance child's (lancedb_maintenance.py)


def table_name(namespace: str) -> str:
    """A safe, stable and collision-free table name for a namespace."""
    if not namespace:
        raise VectorStoreError("a vector namespace must not be empty")
    readable = re.sub(r"[^a-z0-9_-]+", "_", namespace.lower()).strip("_")[:48]
    digest = hashlib.sha256(namespace.encode("utf-8")).hexdigest()[:12]
    return f"ns_{readable}_{digest}" if readable else f"ns_{digest}"


def sql_string(value: str) -> str:
    """A SQL string literal (single quotes doubled)."""
    return "'" + value.replace("'", "''") + "'"


def _id_in(ids: Sequence[str]) -> str:
    return "id IN (" + ", ".join(sql_string(i) for i in ids) + ")"


def _schema(dimension: int) -> pa.Schema:
    return pa.schema(
        [
            pa.field("id", pa.string(), nullable=False),
            pa.field("vector", pa.list_(pa.float32(), dimension)),
            pa.field("repository", pa.string()),
            pa.field("document", pa.string()),
            pa.field("metadata", pa.string()),
        ]
    )


def _where(where: Mapping[str, str] | None) -> str | None:
    if not where:
        return None
    check_filter(where)
    return " AND ".join(f"{field} = {sql_string(str(value))}" for field, value in sorted(where.items()))


def _row(record: VectorRecord) -> dict[str, Any]:
    metadata = dict(record.metadata)
    return {
        "id": record.id,
        "vector": [float(v) for v in record.vector],
        "repository": _optional_str(metadata.pop("repository", None)),
        "document": _optional_str(metadata.pop("document", None)),
        "metadata": json.dumps(metadata, sort_keys=True) if metadata else None,
    }


def _optional_str(value: Any) -> str | None:
    return None if value is None else str(value)


def _metadata(row: Mapping[str, Any]) -> dict[str, Any]:
    metadata: dict[str, Any] = json.loads(row["metadata"]) if row.get("metadata") else {}
    for field in FILTERABLE_FIELDS:
        if row.get(field) is not None:
            metadata[field] = row[field]
    return metadata


class LanceDBVectorStore:
    """Namespaced vectors in a LanceDB database directory (or any URI LanceDB accepts)."""

    backend = "lancedb"
    consistency_seconds = 0.0  # every read checks for the latest table version

    def __init__(
        self,
        uri: str,
        *,
        read_consistency_interval: timedelta = timedelta(0),
        write_batch: int = WRITE_BATCH,
        index_policy: IndexPolicy | None = None,
        index_cache_bytes: int = WRITER_INDEX_CACHE_BYTES,
        metadata_cache_bytes: int = WRITER_METADATA_CACHE_BYTES,
    ) -> None:
        import lancedb

        native_heap.cap_arenas()  # before LanceDB's threads allocate (native_heap.py)
        if write_batch < 500:
            raise ValueError("write_batch must be at least 500 (small commits multiply versions and conflicts)")
        self.uri = uri
        self._write_batch = write_batch
        self.index_policy = index_policy or IndexPolicy()
        self._session = lancedb.Session(
            index_cache_size_bytes=index_cache_bytes, metadata_cache_size_bytes=metadata_cache_bytes
        )
        self._db = lancedb.connect(uri, read_consistency_interval=read_consistency_interval, session=self._session)
        self._read_consistency_interval = read_consistency_interval
        self._lock_dir = lock_dir_of(uri)
        self._search_tables: dict[str, tuple[tuple[int, int], Any]] = {}
        self.maintenance_peak_mb = 0.0  # the largest own peak RSS of this store's maintenance children

    @property
    def cache_bytes(self) -> int:
        """What LanceDB's caches (index and metadata) hold now, searches' connection apart."""
        return int(self._session.size_bytes)

    @cached_property
    def _search_db(self) -> Any:
        """The connection of searches, with LanceDB's default caches (opened on the first search)."""
        import lancedb

        return lancedb.connect(self.uri, read_consistency_interval=self._read_consistency_interval)

    # -- tables ---------------------------------------------------------------------------------------------

    def _open(self, namespace: str, db: Any = None) -> Any | None:
        """The namespace's table, or None if it does not exist (``db``: another connection than the writer's).

        Opened per operation (~1.5 ms) rather than cached, so a table dropped and recreated by another
        process is never read through a stale handle.
        """
        try:
            table = (db or self._db).open_table(table_name(namespace))
        except ValueError:
            return None
        self._ensure_scalar_indexes(table)
        return table

    def _open_for_search(self, namespace: str) -> Any | None:
        """The namespace's table for a search, kept open between searches on a local database.

        A handle keeps the vector index it has read in memory: reopened per search, the index is read again
        every time (measured at 1M rows: ~240 ms a search instead of ~20 ms). The handle still sees every new
        version (read consistency), and is replaced when the table's directory is no longer the one it opened
        (dropped and recreated elsewhere: another inode or ctime).
        """
        name = table_name(namespace)
        identity = self._directory_identity(name)
        cached = self._search_tables.get(name)
        if identity is not None and cached is not None and cached[0] == identity:
            return cached[1]
        table = self._open(namespace, self._search_db)
        if table is None:
            self._search_tables.pop(name, None)
        elif identity is not None:
            self._search_tables[name] = (identity, table)
        return table

    def _directory_identity(self, name: str) -> tuple[int, int] | None:
        """(inode, ctime) of a local table's directory; None for remote URIs or a missing table."""
        if self._lock_dir is None:
            return None
        try:
            status = os.stat(self._lock_dir.parent / f"{name}.lance")
        except FileNotFoundError:
            return None
        return status.st_ino, status.st_ctime_ns

    def _open_or_create(self, namespace: str, dimension: int) -> Any:
        table = self._open(namespace)
        if table is None:
            name = table_name(namespace)
            try:
                table = self._db.create_table(name, schema=_schema(dimension))
            except ValueError:  # created by another process in between
                table = self._db.open_table(name)
            self._ensure_scalar_indexes(table)
        existing = table.schema.field("vector").type.list_size
        if existing != dimension:
            raise VectorStoreError(
                f"namespace {namespace!r} holds {existing}-dimensional vectors, got {dimension} dimensions"
            )
        return table

    def _ensure_scalar_indexes(self, table: Any) -> None:
        """Create the table's BITMAP on ``repository`` unless present (under the table lock: others may race).

        It is the column of the repository filter: a filtered search reads the matching row ids from the bitmap
        instead of scanning the column of every row (few distinct values: one bitmap each). Rows written since
        an index was last updated are scanned beside it until maintenance folds them in, so filters stay exact.
        The index on ``id`` is a bloom filter, which LanceDB cannot create: the maintenance child makes it
        (``lancedb_maintenance.py``); until then an id lookup scans the column (fewer than ``min_rows`` rows).
        """
        missing = self._missing_scalar_indexes(table)
        if not missing:
            return
        from lancedb.index import Bitmap

        with table_lock(self._lock_dir, table.name):
            for column in self._missing_scalar_indexes(table):
                try:
                    retry_conflicts(lambda column=column: table.create_index(column, config=Bitmap()))
                except RuntimeError as exc:
                    if "already exists" not in str(exc):
                        raise VectorStoreError(f"cannot index column {column} of table {table.name}: {exc}") from exc

    @staticmethod
    def _missing_scalar_indexes(table: Any) -> list[str]:
        indexed = {tuple(index.columns) for index in table.list_indices()}
        return [column for column in SCALAR_INDEXED if (column,) not in indexed]

    # -- VectorStore ----------------------------------------------------------------------------------------

    def fixed_dimension(self) -> int | None:
        """None: each namespace is its own table, of its own dimension."""
        return None

    def ensure_namespace(self, namespace: str, dimension: int) -> None:
        """Create the namespace's table (with its id index) if missing; check its dimension otherwise."""
        self._open_or_create(namespace, dimension)

    def upsert(self, namespace: str, records: Sequence[VectorRecord]) -> None:
        """Insert or replace by id, in batches; the last record wins when an id repeats."""
        if not records:
            return
        unique = list({record.id: record for record in records}.values())
        dimension = len(unique[0].vector)
        if any(len(record.vector) != dimension for record in unique):
            raise VectorStoreError("all vectors of one upsert must have the same dimension")
        table = self._open_or_create(namespace, dimension)
        schema = _schema(dimension)
        for start in range(0, len(unique), self._write_batch):
            data = pa.Table.from_pylist([_row(r) for r in unique[start : start + self._write_batch]], schema)
            self._write(table.name, lambda data=data: _insert_or_update(table, data))
        self._maintain(table)
        native_heap.trim()  # the merge's working memory, back to the OS

    def delete(self, namespace: str, ids: Sequence[str]) -> None:
        """Delete by id in batches of ``IN`` lists; unknown ids and namespaces are ignored."""
        table = self._open(namespace)
        if table is None or not ids:
            return
        unique = sorted(set(ids))
        for start in range(0, len(unique), DELETE_BATCH):
            predicate = _id_in(unique[start : start + DELETE_BATCH])
            self._write(table.name, lambda predicate=predicate: table.delete(predicate))

    def fetch(self, namespace: str, ids: Sequence[str]) -> dict[str, list[float]]:
        """Vectors of the ids that exist."""
        table = self._open(namespace)
        if table is None or not ids:
            return {}
        found: dict[str, list[float]] = {}
        for rows in _rows_by_id(table, sorted(set(ids)), ["id", "vector"]):
            found.update(zip(rows["id"].to_pylist(), rows["vector"].to_pylist(), strict=True))
        return found

    def list_ids(self, namespace: str, prefix: str = "") -> Iterator[str]:
        """Every id starting with ``prefix``, in no particular order, read LIST_BATCH at a time (the column is
        never held whole: 250,000 ids are ~30 MB as Python strings)."""
        table = self._open(namespace)
        if table is None:
            return iter(())
        query = table.search().select(["id"]).limit(None)
        if prefix:
            query = query.where(f"starts_with(id, {sql_string(prefix)})")
        return (vector_id for batch in query.to_batches(LIST_BATCH) for vector_id in batch.column("id").to_pylist())

    def query(
        self,
        namespace: str,
        vector: Sequence[float],
        top_k: int,
        where: Mapping[str, str] | None = None,
    ) -> list[VectorMatch]:
        """Exact cosine search (score = 1 - cosine distance), filtered before ranking."""
        predicate = _where(where)
        table = self._open_for_search(namespace)
        if table is None or top_k <= 0:
            return []
        query = table.search(list(vector), vector_column_name="vector").distance_type("cosine").limit(top_k)
        query = tune(query, self.index_policy, filtered=predicate is not None)  # no effect without an index
        if predicate:
            query = query.where(predicate, prefilter=True)
        try:
            rows = query.select(["id", "repository", "document", "metadata", "_distance"]).to_list()
        except Exception as exc:
            raise VectorStoreError(f"vector search in namespace {namespace!r} failed: {exc}") from exc
        return [VectorMatch(id=r["id"], score=1.0 - float(r["_distance"]), metadata=_metadata(r)) for r in rows]

    def count(self, namespace: str) -> int:
        """Number of vectors in the namespace (0 if it does not exist)."""
        table = self._open(namespace)
        return 0 if table is None else int(table.count_rows())

    def drop_namespace(self, namespace: str) -> None:
        """Drop the namespace's table (no error if it does not exist)."""
        name = table_name(namespace)
        self._search_tables.pop(name, None)
        with table_lock(self._lock_dir, name):
            self._db.drop_table(name, ignore_missing=True)

    # -- maintenance ----------------------------------------------------------------------------------------

    def table_names(self) -> list[str]:
        """Names of every namespace table in the database."""
        names: list[str] = []
        token: str | None = None
        while True:
            page = self._db.list_tables(page_token=token)
            names.extend(page.tables)
            token = page.page_token
            if not token:
                return names

    def optimize(self, cleanup_older_than: timedelta = timedelta(hours=1)) -> dict[str, IndexAction]:
        """Compact every table, bring its vector index up to date and delete versions older than
        ``cleanup_older_than``, each in a maintenance child; returns the index action taken per table.

        Safe beside running writers and readers as long as none holds a version older than the threshold.
        """
        if cleanup_older_than <= timedelta(0):
            warnings.warn(
                "optimize(cleanup_older_than=0) removes every version except the latest: a reader or writer "
                "still on an older version fails",
                UserWarning,
                stacklevel=2,
            )
        return {
            name: self._run_child(name, optimize=True, cleanup_older_than=cleanup_older_than)
            for name in self.table_names()
        }

    def index_state(self, namespace: str) -> IndexState:
        """Rows and vector index of the namespace's table (no rows if it does not exist)."""
        table = self._open(namespace)
        return IndexState(0) if table is None else index_state(table)

    def maintain_index(self, namespace: str, *, force: bool = False) -> IndexAction:
        """Build, refresh or retrain the namespace's vector index if due (``force``: whatever the size)."""
        table = self._open(namespace)
        return IndexAction.NONE if table is None else self._maintain(table, force=force)

    def _maintain(self, table: Any, *, force: bool = False) -> IndexAction:
        """The index action due for ``table``, done by a child process (``lancedb_child.py``) if one is due."""
        if maintenance_due(index_state(table), self.index_policy, force=force) is IndexAction.NONE:
            return IndexAction.NONE
        return self._run_child(table.name, force=force)

    def _run_child(self, name: str, **options: Any) -> IndexAction:
        """Maintain table ``name`` in a child process (``lancedb_child.py``) and log what it did."""
        report = maintain_in_child(self.uri, name, self.index_policy, **options)
        self.maintenance_peak_mb = max(self.maintenance_peak_mb, report.peak_rss_mb)
        log.info(
            "vector index of %s: %s in a child process, %.1f s, peak RSS %.0f MB",
            name,
            report.action,
            report.seconds,
            report.peak_rss_mb,
        )
        return report.action

    def _write(self, name: str, operation: Callable[[], T]) -> T:
        try:
            with table_lock(self._lock_dir, name):
                return retry_conflicts(operation)
        except VectorStoreError:
            raise
        except Exception as exc:
            raise VectorStoreError(f"vector store write failed: {exc}") from exc


def _rows_by_id(table: Any, ids: Sequence[str], columns: list[str]) -> Iterator[pa.Table]:
    """The ``columns`` of the rows whose id is in ``ids`` (those that exist), ``DELETE_BATCH`` ids a query (the
    bloom filter on ``id`` narrows each to the zones of rows that may hold its ids)."""
    for start in range(0, len(ids), DELETE_BATCH):
        predicate = _id_in(ids[start : start + DELETE_BATCH])
        yield table.search().where(predicate).select(columns).limit(None).to_arrow()


def _insert_or_update(table: Any, data: pa.Table) -> None:
    """Append the rows whose id the table lacks and merge the others in (under the caller's table lock).

    ``merge_insert`` alone took memory that grew with the rows a BTREE on ``id`` did not cover yet (up to
    ``IndexPolicy.refresh_unindexed``, then the index is refreshed): peak +54 to +73 MB an upsert of 300 rows
    at 10,000 unindexed, at 30,000 or 250,000 rows; without the index (``use_index(False)``) it grows with the
    table (+53 MB at 250,000). Probing the ids (``id IN``) and appending took +4 to +7 MB at 30,000 rows
    (README "What grows while batches are written"), but the BTREE probe grew with the table: 300 new ids
    fall in as many of its pages, loaded at once (+22 to +35 MB at 250,000 rows). The bloom filter that
    replaced it answers the same probe in +1 MB (``lancedb_maintenance.py``). A run writes new ids; ids
    already there (a run resumed after a kill, a repair) still go through ``merge_insert``, so an id is never
    written twice.
    """
    ids = data.column("id")
    existing = [found for rows in _rows_by_id(table, ids.to_pylist(), ["id"]) for found in rows["id"].to_pylist()]
    known = pc.is_in(ids, value_set=pa.array(existing, pa.string()))
    if existing:
        merged = data.filter(known)
        table.merge_insert("id").when_matched_update_all().when_not_matched_insert_all().execute(merged)
    new = data.filter(pc.invert(known))
    if new.num_rows:
        table.add(new)
