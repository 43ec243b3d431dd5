"""The run ledger: one SQLite file (`<paths.results>/ledger.sqlite`) recording every run and its stages.

Written by `pipeline.run` (through `run_record.RunRecorder`), read by `python -m paper_autotrain ledger ...`,
the leaderboard and the batch summary. WAL mode, so readers never block the writer and several papers may
run at once (Hydra launchers); every write is one short `BEGIN IMMEDIATE` transaction with a busy timeout.
The schema is versioned with `PRAGMA user_version`; a missing file is created, an older one is migrated in
place (rows kept), a newer one is refused.
"""

from __future__ import annotations

import contextlib
import json
import sqlite3
import time
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

from paper_autotrain.schemas import APPROXIMATION, approximation_label  # noqa: F401 - re-exported

LEDGER_FILE = "ledger.sqlite"
SCHEMA_VERSION = 3
BUSY_TIMEOUT_S = 30.0
WAL_RETRY_S = 0.05
RUN_STATUSES = ("running", "ok", "gap", APPROXIMATION, "failed")
"""`gap`: the run finished, but its main metric is short of the RecBole reference beyond the tolerance.
`approximation`: the run finished, but its model leaves out parts of the paper's method (a partial spec run with
fidelity=allow_partial): never a reproduction, so never judged for a gap either."""

SCHEMA_V1 = """
CREATE TABLE runs (
    run_id TEXT PRIMARY KEY,
    batch_id TEXT,                 -- the paper list run this run belongs to (NULL for a single paper)
    paper_key TEXT NOT NULL,
    source TEXT NOT NULL,
    until_stage TEXT,              -- the last stage the run was asked to reach
    started TEXT NOT NULL,         -- ISO 8601, UTC
    finished TEXT,
    seconds REAL,
    status TEXT NOT NULL CHECK (status IN ('running', 'ok', 'gap', 'failed')),
    failure_class TEXT,
    failure_stage TEXT,
    failure_message TEXT,
    config_hash TEXT,
    code_hash TEXT,
    package_version TEXT,
    seeds TEXT,                    -- JSON list
    model_name TEXT,
    dataset TEXT,
    main_metric TEXT,              -- e.g. ndcg@10, auc
    ours REAL,                     -- our model's main metric on the test split
    reference REAL,                -- the RecBole reference model's, same split and evaluator
    reference_model TEXT,
    paper_reported TEXT,           -- what the paper reports (its own dataset and protocol), as text
    metrics TEXT,                  -- JSON: every test metric of our model
    llm_tokens INTEGER,
    llm_cost_usd REAL
);
CREATE INDEX runs_by_paper ON runs (paper_key, started);
CREATE INDEX runs_by_batch ON runs (batch_id);
CREATE TABLE stages (
    run_id TEXT NOT NULL REFERENCES runs (run_id) ON DELETE CASCADE,
    stage TEXT NOT NULL,
    status TEXT NOT NULL,          -- ok, skipped, failed
    seconds REAL,
    skipped INTEGER NOT NULL DEFAULT 0,
    input_hash TEXT,
    PRIMARY KEY (run_id, stage)
);
"""
# v2: the status `approximation` and the column `missing`. SQLite cannot change a CHECK in place, so `runs` is
# rebuilt and its rows copied (`_migrate` turns foreign keys off meanwhile: dropping the old table must not
# cascade into `stages`).
SCHEMA_V2 = """
CREATE TABLE runs_v2 (
    run_id TEXT PRIMARY KEY,
    batch_id TEXT,
    paper_key TEXT NOT NULL,
    source TEXT NOT NULL,
    until_stage TEXT,
    started TEXT NOT NULL,
    finished TEXT,
    seconds REAL,
    status TEXT NOT NULL CHECK (status IN ('running', 'ok', 'gap', 'approximation', 'failed')),
    failure_class TEXT,
    failure_stage TEXT,
    failure_message TEXT,
    config_hash TEXT,
    code_hash TEXT,
    package_version TEXT,
    seeds TEXT,
    model_name TEXT,
    dataset TEXT,
    main_metric TEXT,
    ours REAL,
    reference REAL,
    reference_model TEXT,
    paper_reported TEXT,
    metrics TEXT,
    llm_tokens INTEGER,
    llm_cost_usd REAL,
    missing TEXT                   -- JSON list: what a partial spec's model leaves out (NULL: not partial)
);
INSERT INTO runs_v2 (run_id, batch_id, paper_key, source, until_stage, started, finished, seconds, status,
    failure_class, failure_stage, failure_message, config_hash, code_hash, package_version, seeds, model_name,
    dataset, main_metric, ours, reference, reference_model, paper_reported, metrics, llm_tokens, llm_cost_usd)
SELECT run_id, batch_id, paper_key, source, until_stage, started, finished, seconds, status,
    failure_class, failure_stage, failure_message, config_hash, code_hash, package_version, seeds, model_name,
    dataset, main_metric, ours, reference, reference_model, paper_reported, metrics, llm_tokens, llm_cost_usd
FROM runs;
DROP TABLE runs;
ALTER TABLE runs_v2 RENAME TO runs;
CREATE INDEX runs_by_paper ON runs (paper_key, started);
CREATE INDEX runs_by_batch ON runs (batch_id);
"""
# config: the resolved config (JSON), so runs compare by their parameters; job: a sweep job's id (its folders are
# <key>/jobs/<job>). SQLite keeps an added column's text in the table's schema: no comments inside it.
SCHEMA_V3 = """
ALTER TABLE runs ADD COLUMN config TEXT;
ALTER TABLE runs ADD COLUMN job TEXT;
"""
MIGRATIONS = {1: SCHEMA_V1, 2: SCHEMA_V2, 3: SCHEMA_V3}  # version -> the script that brings version-1 up to it
JSON_COLUMNS = ("seeds", "metrics", "missing", "config")


class LedgerError(Exception):
    """The ledger cannot be used (a newer schema, an unknown column); callers log it, runs go on."""


@dataclass
class RunRow:
    """One row of `runs`, JSON columns decoded."""

    run_id: str
    paper_key: str
    source: str
    started: str
    status: str
    batch_id: str | None = None
    until_stage: str | None = None
    finished: str | None = None
    seconds: float | None = None
    failure_class: str | None = None
    failure_stage: str | None = None
    failure_message: str | None = None
    config_hash: str | None = None
    code_hash: str | None = None
    package_version: str | None = None
    seeds: list[int] = field(default_factory=list)
    model_name: str | None = None
    dataset: str | None = None
    main_metric: str | None = None
    ours: float | None = None
    reference: float | None = None
    reference_model: str | None = None
    paper_reported: str | None = None
    metrics: dict[str, float] = field(default_factory=dict)
    llm_tokens: int | None = None
    llm_cost_usd: float | None = None
    missing: list[str] | None = None
    """Set only when the run's spec is partial: the paper's components its model leaves out."""
    config: dict[str, Any] | None = None
    """The run's resolved config (paths and Hydra's own settings left out)."""
    job: str | None = None
    """A sweep job's id (`job=`, set per job in a --multirun): the run's folders are <key>/jobs/<job>."""

    @property
    def approximation(self) -> bool:
        """A run of a partial spec: its model (built or not) leaves out parts of the paper's method."""
        return self.status == APPROXIMATION or self.missing is not None

    @property
    def finished_the_chain(self) -> bool:
        """Asked to go through compare (a full run: the only kind the leaderboard ranks)."""
        return self.until_stage in (None, "compare")


@dataclass(frozen=True)
class StageRow:
    """One row of `stages`."""

    run_id: str
    stage: str
    status: str
    seconds: float | None = None
    skipped: bool = False
    input_hash: str | None = None


RUN_COLUMNS = tuple(f.name for f in fields(RunRow))
STAGE_COLUMNS = tuple(f.name for f in fields(StageRow))


def results_dir(paths: Mapping[str, Any]) -> Path:
    """`paths.results` under `paths.root` (the rule of `pipeline.resolve_path`, without importing the pipeline)."""
    root = Path(str(paths.get("root", "."))).expanduser().resolve()
    value = Path(str(paths.get("results", "results"))).expanduser()
    return value if value.is_absolute() else root / value


class Ledger:
    """The ledger file at `path`; every method opens, works in one transaction and closes."""

    def __init__(self, path: Path, timeout_s: float = BUSY_TIMEOUT_S) -> None:
        self.path = Path(path)
        self.timeout_s = timeout_s

    @classmethod
    def under(cls, results: Path) -> Ledger:
        return cls(Path(results) / LEDGER_FILE)

    def exists(self) -> bool:
        return self.path.is_file()

    # --- connections and schema -------------------------------------------------------------------

    @contextlib.contextmanager
    def _connect(self) -> Iterator[sqlite3.Connection]:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        conn = sqlite3.connect(str(self.path), timeout=self.timeout_s, isolation_level=None)
        try:
            conn.row_factory = sqlite3.Row
            conn.execute(f"PRAGMA busy_timeout = {int(self.timeout_s * 1000)}")
            conn.execute("PRAGMA foreign_keys = ON")
            self._migrate(conn)
            yield conn
        finally:
            conn.close()

    def _migrate(self, conn: sqlite3.Connection) -> None:
        version = conn.execute("PRAGMA user_version").fetchone()[0]
        if version > SCHEMA_VERSION:
            raise LedgerError(f"{self.path} has schema version {version}; this paper_autotrain reads up to "
                              f"{SCHEMA_VERSION} (upgrade it, or point paths.results elsewhere)")
        if version == SCHEMA_VERSION:
            return
        self._use_wal(conn)
        conn.execute("PRAGMA foreign_keys = OFF")  # a no-op inside a transaction: rebuilding `runs` needs it off
        try:
            with self._transaction(conn):
                version = conn.execute("PRAGMA user_version").fetchone()[0]  # another process may have won
                for target in range(version + 1, SCHEMA_VERSION + 1):
                    for statement in MIGRATIONS[target].split(";"):
                        if statement.strip():
                            conn.execute(statement)
                    conn.execute(f"PRAGMA user_version = {target}")
                if conn.execute("PRAGMA foreign_key_check").fetchone() is not None:
                    raise LedgerError(f"{self.path}: migrating to schema {SCHEMA_VERSION} broke a stage's run link")
        finally:
            conn.execute("PRAGMA foreign_keys = ON")

    def _use_wal(self, conn: sqlite3.Connection) -> None:
        """WAL journal (persistent: set once, when the file is created). Switching needs the file to itself, and
        SQLite answers "locked" at once, not after busy_timeout, while another process creates the tables: wait."""
        deadline = time.monotonic() + self.timeout_s
        while conn.execute("PRAGMA journal_mode").fetchone()[0].lower() != "wal":
            try:
                conn.execute("PRAGMA journal_mode = WAL")
            except sqlite3.OperationalError as exc:
                if "locked" not in str(exc) or time.monotonic() > deadline:
                    raise
                time.sleep(WAL_RETRY_S)

    @staticmethod
    @contextlib.contextmanager
    def _transaction(conn: sqlite3.Connection) -> Iterator[None]:
        conn.execute("BEGIN IMMEDIATE")  # take the write lock up front: no upgrade deadlock between writers
        try:
            yield
        except BaseException:
            conn.execute("ROLLBACK")
            raise
        conn.execute("COMMIT")

    def create(self) -> None:
        """Create the file with the current schema (a no-op when it is there)."""
        with self._connect():
            pass

    def journal_mode(self) -> str:
        with self._connect() as conn:
            return str(conn.execute("PRAGMA journal_mode").fetchone()[0])

    def schema_version(self) -> int:
        with self._connect() as conn:
            return int(conn.execute("PRAGMA user_version").fetchone()[0])

    # --- writing ----------------------------------------------------------------------------------

    def record(self, run_id: str, run: Mapping[str, Any], stages: Iterable[StageRow] = ()) -> None:
        """Insert or update run `run_id` with the columns in `run`, and its `stages`, in one transaction."""
        unknown = sorted(set(run) - set(RUN_COLUMNS))
        if unknown:
            raise LedgerError(f"unknown ledger column(s): {', '.join(unknown)}")
        values = {k: json.dumps(v) if k in JSON_COLUMNS and v is not None else v for k, v in run.items()}
        with self._connect() as conn, self._transaction(conn):
            updated = conn.execute(f"UPDATE runs SET {', '.join(f'{n} = ?' for n in values)} WHERE run_id = ?",
                                   [*values.values(), run_id]).rowcount if values else 0
            exists = updated or conn.execute("SELECT 1 FROM runs WHERE run_id = ?", (run_id,)).fetchone()
            if not exists:  # a new run: the NOT NULL columns must be among `run`
                names = ["run_id", *values]
                conn.execute(f"INSERT INTO runs ({', '.join(names)}) VALUES ({', '.join('?' * len(names))})",
                             [run_id, *values.values()])
            for row in stages:
                conn.execute(f"INSERT OR REPLACE INTO stages ({', '.join(STAGE_COLUMNS)}) VALUES (?, ?, ?, ?, ?, ?)",
                             (run_id, row.stage, row.status, row.seconds, int(row.skipped), row.input_hash))

    # --- reading ----------------------------------------------------------------------------------

    def runs(self, paper: str | None = None, limit: int | None = None, batch: str | None = None) -> list[RunRow]:
        """Runs, newest first; of one paper and/or one batch when given."""
        where, args = [], []
        for column, value in (("paper_key", paper), ("batch_id", batch)):
            if value is not None:
                where.append(f"{column} = ?")
                args.append(value)
        sql = "SELECT * FROM runs" + (f" WHERE {' AND '.join(where)}" if where else "")
        sql += " ORDER BY started DESC, rowid DESC" + (" LIMIT ?" if limit is not None else "")
        if limit is not None:
            args.append(int(limit))
        with self._connect() as conn:
            return [_run_row(r) for r in conn.execute(sql, args)]

    def history(self, paper: str) -> list[RunRow]:
        """Every run of one paper, oldest first."""
        return list(reversed(self.runs(paper=paper)))

    def papers(self) -> list[str]:
        with self._connect() as conn:
            return [r[0] for r in conn.execute("SELECT DISTINCT paper_key FROM runs ORDER BY paper_key")]

    def stages(self, run_id: str) -> list[StageRow]:
        with self._connect() as conn:
            rows = conn.execute("SELECT * FROM stages WHERE run_id = ? ORDER BY rowid", (run_id,))
            return [StageRow(**{**dict(r), "skipped": bool(r["skipped"])}) for r in rows]


def _run_row(row: sqlite3.Row) -> RunRow:
    data = dict(row)
    for column in JSON_COLUMNS:
        raw = data.get(column)
        data[column] = json.loads(raw) if raw else _empty(column)
    return RunRow(**data)


def _empty(column: str) -> Any:
    """A JSON column left NULL: no seeds, no metrics; `missing` stays None (not an approximation)."""
    return {"seeds": [], "metrics": {}}.get(column)
