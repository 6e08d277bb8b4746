"""The run store: one SQLite file (WAL) holding studies, runs, curves, evals and fits.

Only the sweep driver (or an explicit import) writes; every finished run is one transaction, so a
driver killed at any moment leaves a consistent file and readers never see half a run. WAL lets
any number of readers (`lmscale runs`, a notebook, `lmscale fit`) read while the driver writes.
"""

from __future__ import annotations

import json
import math
import os
import socket
import sqlite3
import time
from collections.abc import Iterable, Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import pandas as pd

from lmscale import processes
from lmscale.errors import InputError
from lmscale.jsonsafe import plain
from lmscale.paths import home
from lmscale.store.schema import APP_NAME, MIGRATIONS, SCHEMA_VERSION

_SQLITE_MAGIC = b"SQLite format 3\x00"

#: Per-step columns with their own SQL column; anything else lands in `extra` (JSON).
CURVE_COLUMNS = (
    "tokens",
    "flops_6n",
    "flops_kaplan",
    "flops_exact",
    "train_loss",
    "lr",
    "grad_norm",
    "noise_scale",
    "tokens_per_s",
    "wall_time",
)
RUN_STATUSES = ("running", "completed", "diverged", "failed", "interrupted")
FINISHED = ("completed", "diverged")


#: The meta key under which a running sweep driver records itself (see Store.claim_driver).
DRIVER_KEY = "driver"


class StoreWriteError(InputError):
    """The store could not be written (read-only, full disk, damaged, locked); the transaction was
    rolled back, so the file holds what it held before."""


def default_store_path() -> Path:
    """$LMSCALE_STORE, else home()/lmscale.db."""
    env = os.environ.get("LMSCALE_STORE")
    if env:
        return Path(env).expanduser()
    try:
        return home() / "lmscale.db"
    except OSError as exc:  # LMSCALE_HOME names a file, or a folder that cannot be created
        where = os.environ.get("LMSCALE_HOME") or "~/.cache/lmscale"
        why = (
            _first_missing_folder(Path(where).expanduser())
            if isinstance(exc, FileExistsError)
            else exc.strerror
        )
        raise InputError(f"LMSCALE_HOME={where}: not a usable folder ({why or exc})") from None


def _uri(path: Path, **params: str) -> str:
    """A file: URI for sqlite3 (percent-encoded: a name with ?, # or % stays a name)."""
    return path.resolve().as_uri() + ("?" + urlencode(params) if params else "")


def _write_problem(path: Path, exc: sqlite3.Error) -> str:
    """One line saying why a write to the store failed, for a rolled-back transaction."""
    text = str(exc)
    low = text.lower()
    if ("readonly" in low or "unable to open" in low) and not os.access(path.parent, os.W_OK):
        what = f"the store's folder {path.parent} is read-only"
    elif "readonly" in low or "read-only" in low:
        what = "the store is read-only"
    elif "full" in low:
        what = "the disk is full"
    elif "unable to open" in low:
        what = "cannot open the store for writing (is its folder read-only?)"
    elif "locked" in low or "busy" in low:
        what = "another process kept the store locked for 30 s"
    elif "malformed" in low or "not a database" in low:
        what = "the store is damaged"
    else:
        what = "cannot write to the store"
    return f"{path}: {what} (sqlite: {text}); nothing was written"


def _first_missing_folder(folder: Path) -> str:
    """Why `folder` cannot be created: the ancestor that is a file, or the OS's reason."""
    for parent in (folder, *folder.parents):
        if parent.exists():
            return f"{parent} is a file, not a folder" if not parent.is_dir() else f"{parent} is not writable"
    return f"{folder} cannot be created"


@dataclass
class RunRecord:
    """Everything the store keeps about one run; built by the sweep driver or an importer.

    curve: one row per logged step, columns `step` plus any of CURVE_COLUMNS (others kept as
    JSON). curve_evals: long format (step, eval_set, loss). evals: (eval_set, loss).
    position_loss: (eval_set, position, loss).
    """

    id: str
    spec: dict[str, Any]
    status: str
    error: str | None = None
    host: str | None = None
    started: float | None = None
    finished: float | None = None
    wall_time: float | None = None
    N: float | None = None
    N_total: float | None = None
    D: float | None = None
    C_6ND: float | None = None
    C_exact: float | None = None
    C_kaplan: float | None = None
    loss: float | None = None
    final: dict[str, Any] = field(default_factory=dict)
    source: str = "lmscale"
    curve: pd.DataFrame | None = None
    curve_evals: pd.DataFrame | None = None
    evals: pd.DataFrame | None = None
    position_loss: pd.DataFrame | None = None


def _num(value: Any) -> float | None:
    """SQL-friendly float: None for missing or non-finite values."""
    if value is None:
        return None
    try:
        out = float(value)
    except (TypeError, ValueError):
        return None
    return out if math.isfinite(out) else None


def _is_nan(value: Any) -> bool:
    return isinstance(value, float) and math.isnan(value)


def dumps(value: Any) -> str:
    return json.dumps(plain(value), sort_keys=True)


def flatten_spec(spec: dict[str, Any]) -> dict[str, Any]:
    """Flatten nested spec dicts (e.g. `shape`) into one level; inner names win when unambiguous."""
    flat: dict[str, Any] = {}
    nested: dict[str, Any] = {}
    for key, value in spec.items():
        if (
            key == "tags"
            and isinstance(value, (list, tuple))
            and all(isinstance(t, (list, tuple)) and len(t) == 2 for t in value)
        ):
            # design coordinates (e.g. the IsoFLOP budget) become their own columns
            for name, raw in value:
                try:
                    flat.setdefault(str(name), float(raw))
                except (TypeError, ValueError):
                    flat.setdefault(str(name), raw)
            continue
        if isinstance(value, dict):
            for inner, v in flatten_spec(value).items():
                nested.setdefault(inner, []).append((f"{key}.{inner}", v))
        elif isinstance(value, (list, tuple)):
            flat[key] = ",".join(str(v) for v in value)
        else:
            flat[key] = value
    for inner, items in nested.items():
        if len(items) == 1 and inner not in flat:
            flat[inner] = items[0][1]
        else:
            flat.update(dict(items))
    return flat


class Store:
    """An lmscale run store. `Store()` opens (creating if needed) the default store.

    readonly=True opens without creating or migrating anything (for readers running beside a
    writer). A file that is not an lmscale store, or was written by a newer lmscale, raises
    InputError and is left untouched.
    """

    def __init__(self, path: str | os.PathLike[str] | None = None, readonly: bool = False) -> None:
        self.path = Path(path).expanduser() if path is not None else default_store_path()
        self.readonly = readonly
        version = self._inspect()
        if readonly:
            if version is None:
                raise InputError(f"{self.path}: no lmscale store there")
            self._conn = self._connect_readonly()
        else:
            self._conn = self._connect_writer(version)
        self._conn.execute("PRAGMA foreign_keys=ON")

    # -- opening ---------------------------------------------------------------------------
    def _connect_readonly(self) -> sqlite3.Connection:
        """A read-only connection. A WAL store in a folder this user cannot write has no -shm
        file to share, so SQLite refuses the plain read-only open; it is then opened immutable
        (nobody can be writing it: a writer would need that folder too)."""
        if not os.access(self.path, os.R_OK):
            raise InputError(f"{self.path}: cannot read the store (permission denied)")
        conn = sqlite3.connect(_uri(self.path, mode="ro"), uri=True, timeout=30)
        try:
            conn.execute("SELECT 1 FROM sqlite_master LIMIT 1").fetchall()
            return conn
        except sqlite3.OperationalError as exc:
            conn.close()
            if "unable to open" not in str(exc) and "readonly" not in str(exc):
                raise
        return sqlite3.connect(_uri(self.path, mode="ro", immutable="1"), uri=True, timeout=30)

    def _connect_writer(self, version: int | None) -> sqlite3.Connection:
        """A read-write connection, migrated to this schema; refuses in one line, before writing
        anything, a store (or folder) that cannot be written."""
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            why = (
                _first_missing_folder(self.path.parent)
                if isinstance(exc, FileExistsError | NotADirectoryError)
                else exc.strerror
            )
            raise InputError(f"{self.path}: cannot create the store's folder ({why})") from None
        try:
            conn = sqlite3.connect(self.path, timeout=30)
        except sqlite3.Error as exc:
            raise StoreWriteError(_write_problem(self.path, exc)) from None
        try:
            conn.execute("PRAGMA journal_mode=WAL")
            conn.execute("PRAGMA synchronous=NORMAL")
            # Take (and drop) the write lock: a read-only file or folder fails here, not mid-sweep.
            conn.execute("BEGIN IMMEDIATE")
            conn.rollback()
        except sqlite3.Error as exc:
            conn.close()
            raise StoreWriteError(_write_problem(self.path, exc)) from None
        self._conn = conn
        self._migrate(version or 0)
        return conn

    def _damaged(self, exc: BaseException | str) -> InputError:
        why = " ".join(str(exc).replace("*** in database main ***", "").split())
        return InputError(
            f"{self.path}: the store is damaged (sqlite: {why}); nothing was written (`sqlite3 {self.path} "
            ".recover` may save what is left)"
        )

    def _inspect(self) -> int | None:
        """Schema version of an existing store, None for a missing/empty file. Reads only; a store
        that fails SQLite's integrity check is refused before anyone writes to it."""
        if not self.path.exists() or (self.path.is_file() and self.path.stat().st_size == 0):
            return None
        if not self.path.is_file():
            raise InputError(f"{self.path}: not an lmscale store (not a file)")
        try:
            with open(self.path, "rb") as fh:
                magic = fh.read(16)
        except OSError as exc:
            raise InputError(f"{self.path}: cannot read the store ({exc.strerror})") from None
        if magic != _SQLITE_MAGIC:
            raise InputError(f"{self.path}: not an lmscale store (not an SQLite database)")
        try:
            conn = self._connect_readonly()
            try:
                tables = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type='table'")}
                if not tables:
                    return None
                if "meta" not in tables:
                    raise InputError(
                        f"{self.path}: not an lmscale store (an SQLite file without lmscale tables)"
                    )
                meta = dict(conn.execute("SELECT key, value FROM meta").fetchall())
                # quick_check reads every page: O(file size), about a second per GB
                problem = conn.execute("PRAGMA quick_check(1)").fetchone()[0]
            finally:
                conn.close()
        except sqlite3.DatabaseError as exc:  # the SQLite header is there: a damaged file
            raise self._damaged(exc) from None
        if problem != "ok":
            raise self._damaged(problem)
        if meta.get("app") != APP_NAME:
            raise InputError(f"{self.path}: not an lmscale store (meta.app is {meta.get('app')!r})")
        try:
            version = int(meta.get("schema_version", ""))
        except ValueError:
            raise InputError(f"{self.path}: not an lmscale store (bad schema_version)") from None
        if version > SCHEMA_VERSION:
            raise InputError(
                f"{self.path}: store schema version {version} is newer than this lmscale supports "
                f"({SCHEMA_VERSION}); upgrade lmscale"
            )
        return version

    def _migrate(self, version: int) -> None:
        if version == SCHEMA_VERSION:
            return
        with self._tx() as conn:
            for script in MIGRATIONS[version:]:
                for statement in script.split(";"):
                    if statement.strip():
                        conn.execute(statement)
            conn.execute("INSERT OR REPLACE INTO meta VALUES ('app', ?)", (APP_NAME,))
            conn.execute("INSERT OR REPLACE INTO meta VALUES ('schema_version', ?)", (str(SCHEMA_VERSION),))

    @contextmanager
    def _tx(self) -> Iterator[sqlite3.Connection]:
        """One IMMEDIATE transaction: all or nothing, committed on exit. SQLite's own failures
        (read-only, disk full, damaged, locked) roll back and become one StoreWriteError line."""
        if self.readonly:
            raise InputError(f"{self.path}: store opened read-only")
        try:
            self._conn.execute("BEGIN IMMEDIATE")
            try:
                yield self._conn
            except BaseException:
                self._conn.rollback()
                raise
            self._conn.commit()
        except sqlite3.IntegrityError:  # a broken invariant of lmscale itself: keep the traceback
            raise
        except sqlite3.Error as exc:
            if self._conn.in_transaction:
                with suppress(sqlite3.Error):
                    self._conn.rollback()
            raise StoreWriteError(_write_problem(self.path, exc)) from None

    def close(self) -> None:
        self._conn.close()

    def __enter__(self) -> Store:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @property
    def schema_version(self) -> int:
        return int(self._rows("SELECT value FROM meta WHERE key='schema_version'")[0][0])

    def run_dir(self, run_id: str) -> Path:
        """Stable per-run folder (checkpoints) next to the store: a rerun resumes from it."""
        return self.path.parent / f"{self.path.stem}-runs" / run_id

    # -- writing ---------------------------------------------------------------------------
    def ensure_study(self, name: str, spec: dict[str, Any] | None = None) -> None:
        with self._tx() as conn:
            self._ensure_study(conn, name, spec)

    @staticmethod
    def _ensure_study(conn: sqlite3.Connection, name: str, spec: dict[str, Any] | None) -> None:
        conn.execute(
            "INSERT OR IGNORE INTO studies (name, spec, created) VALUES (?, ?, ?)",
            (name, dumps(spec) if spec is not None else None, time.time()),
        )
        if spec is not None:
            conn.execute("UPDATE studies SET spec=? WHERE name=?", (dumps(spec), name))

    def link(self, study: str, run_ids: Iterable[str]) -> None:
        """Add runs already in the store to a study (a run with the same spec is trained once and
        shared by every study that contains it)."""
        with self._tx() as conn:
            self._ensure_study(conn, study, None)
            conn.executemany(
                "INSERT OR IGNORE INTO study_runs SELECT ?, id FROM runs WHERE id = ?",
                [(study, rid) for rid in run_ids],
            )

    def mark_running(self, study: str, run_id: str, spec: dict[str, Any]) -> None:
        """Note that a run started (so `lmscale runs --status running` shows it)."""
        with self._tx() as conn:
            self._ensure_study(conn, study, None)
            conn.execute(
                "INSERT INTO runs (id, spec, status, host, started, source) VALUES (?, ?, 'running', ?, ?, 'lmscale') "
                "ON CONFLICT(id) DO UPDATE SET status='running', error=NULL, host=excluded.host, "
                "started=excluded.started",
                (run_id, dumps(spec), socket.gethostname(), time.time()),
            )
            conn.execute("INSERT OR IGNORE INTO study_runs VALUES (?, ?)", (study, run_id))

    def mark(self, run_ids: Iterable[str], status: str, error: str | None = None) -> None:
        if status not in RUN_STATUSES:
            raise ValueError(f"unknown run status {status!r}")
        with self._tx() as conn:
            conn.executemany(
                "UPDATE runs SET status=?, error=? WHERE id=?", [(status, error, rid) for rid in run_ids]
            )

    def record_run(self, study: str, rec: RunRecord) -> None:
        """Write one run and all its rows in one transaction (replacing any earlier attempt)."""
        self.record_runs(study, [rec])

    def record_runs(self, study: str, records: list[RunRecord]) -> None:
        """Write several runs into one study in one transaction: all of them or none (imports)."""
        self.write_runs(records, {rec.id: [study] for rec in records}, also_ensure=study)

    def write_runs(
        self, records: list[RunRecord], studies: dict[str, list[str]], also_ensure: str | None = None
    ) -> None:
        """Write runs under their own ids, each linked to its studies, in one transaction: all or none.
        `studies` maps a run id to its study names; an id there without a record (a run the store
        already holds, as a restore meets it) is only linked. `also_ensure` names a study to create
        even when no run joins it."""
        for rec in records:
            if rec.status not in RUN_STATUSES:
                raise ValueError(f"unknown run status {rec.status!r}")
        names = {s for ids in studies.values() for s in ids} | ({also_ensure} if also_ensure else set())
        with self._tx() as conn:
            for name in sorted(names):
                self._ensure_study(conn, name, None)
            for rec in records:
                self._write_run(conn, rec)
            conn.executemany(
                "INSERT OR IGNORE INTO study_runs SELECT ?, id FROM runs WHERE id = ?",
                [(name, rid) for rid, ids in studies.items() for name in ids],
            )

    @staticmethod
    def _write_run(conn: sqlite3.Connection, rec: RunRecord) -> None:
        for table in ("curves", "curve_evals", "evals", "position_loss"):
            conn.execute(f"DELETE FROM {table} WHERE run_id=?", (rec.id,))
        conn.execute(
            "INSERT OR REPLACE INTO runs (id, spec, status, error, host, started, finished, wall_time, "
            "N, N_total, D, C_6ND, C_exact, C_kaplan, loss, final, source) "
            "VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
            (
                rec.id,
                dumps(rec.spec),
                rec.status,
                rec.error,
                rec.host or socket.gethostname(),
                _num(rec.started),
                _num(rec.finished),
                _num(rec.wall_time),
                _num(rec.N),
                _num(rec.N_total),
                _num(rec.D),
                _num(rec.C_6ND),
                _num(rec.C_exact),
                _num(rec.C_kaplan),
                _num(rec.loss),
                dumps(rec.final),
                rec.source,
            ),
        )
        if rec.curve is not None and len(rec.curve):
            conn.executemany(
                f"INSERT OR REPLACE INTO curves (run_id, step, {', '.join(CURVE_COLUMNS)}, extra) "
                f"VALUES ({', '.join('?' * (len(CURVE_COLUMNS) + 3))})",
                list(_curve_rows(rec.id, rec.curve)),
            )
        if rec.curve_evals is not None and len(rec.curve_evals):
            conn.executemany(
                "INSERT OR REPLACE INTO curve_evals VALUES (?, ?, ?, ?, ?)",
                [
                    (rec.id, int(r["step"]), str(r["eval_set"]), _num(r["loss"]), _num(r.get("bpb")))
                    for r in rec.curve_evals.to_dict("records")
                ],
            )
        if rec.evals is not None and len(rec.evals):
            conn.executemany(
                "INSERT OR REPLACE INTO evals VALUES (?, ?, ?)",
                [(rec.id, str(r.eval_set), _num(r.loss)) for r in rec.evals.itertuples(index=False)],
            )
        if rec.position_loss is not None and len(rec.position_loss):
            conn.executemany(
                "INSERT OR REPLACE INTO position_loss VALUES (?, ?, ?, ?)",
                [
                    (rec.id, str(r.eval_set), int(r.position), _num(r.loss))
                    for r in rec.position_loss.itertuples(index=False)
                ],
            )

    def save_fit(self, study: str | None, form: str, result: dict[str, Any]) -> int:
        """Store a fit's JSON; returns its id."""
        with self._tx() as conn:
            cur = conn.execute(
                "INSERT INTO fits (study, form, json, created) VALUES (?, ?, ?, ?)",
                (study, form, dumps(result), time.time()),
            )
            return int(cur.lastrowid or 0)

    # -- deleting --------------------------------------------------------------------------
    def resolve_ids(self, run_ids: Iterable[str]) -> list[str]:
        """Full run ids for ids or unique prefixes; InputError naming the first unknown one."""
        return [self.run(rid)["id"] for rid in dict.fromkeys(run_ids)]

    def delete(self, run_ids: Iterable[str] = (), study: str | None = None) -> dict[str, Any]:
        """Delete runs with every row they own (curves, evals, position losses, study links), and
        with `study`: the study, its fits and its runs that no other study shares (a shared run
        only leaves this study). One transaction: all of it or nothing. Returns the deleted run
        ids ("ids") and counts ("runs", "studies", "fits")."""
        ids = list(dict.fromkeys(run_ids))
        with self._tx() as conn:
            studies = fits = 0
            if study is not None:
                own = conn.execute(
                    "SELECT run_id FROM study_runs WHERE study=? AND run_id NOT IN "
                    "(SELECT run_id FROM study_runs WHERE study<>?)",
                    (study, study),
                ).fetchall()
                ids += [r[0] for r in own if r[0] not in ids]
                conn.execute("DELETE FROM study_runs WHERE study=?", (study,))
                fits = conn.execute("DELETE FROM fits WHERE study=?", (study,)).rowcount
                studies = conn.execute("DELETE FROM studies WHERE name=?", (study,)).rowcount
            runs = 0
            for lo in range(0, len(ids), 500):
                chunk = ids[lo : lo + 500]
                marks = ",".join("?" * len(chunk))
                for table in ("curves", "curve_evals", "evals", "position_loss", "study_runs"):
                    conn.execute(f"DELETE FROM {table} WHERE run_id IN ({marks})", chunk)
                runs += conn.execute(f"DELETE FROM runs WHERE id IN ({marks})", chunk).rowcount
        return {"ids": ids, "runs": runs, "studies": studies, "fits": fits}

    # -- the driver's claim ------------------------------------------------------------------
    def driver(self) -> dict[str, Any] | None:
        """The sweep driver running on this store (host, pid, since), None when there is none.

        The claim is a row of the store itself, so every path to the file (a symlink, another
        spelling, a hard link) sees the same one and there is no lock file to lose."""
        rows = self._rows("SELECT value FROM meta WHERE key=?", (DRIVER_KEY,))
        try:
            owner = json.loads(rows[0][0]) if rows else None
        except ValueError:
            return None
        return owner if isinstance(owner, dict) and processes.alive(owner) else None

    def claim_driver(self) -> dict[str, Any]:
        """Record this process as the store's one sweep driver, or raise InputError naming the one
        that runs. A driver killed with -9 leaves its row; its process is gone, so it no longer
        counts (`lmscale.processes.alive`)."""
        me = {**processes.identity(), "since": time.time()}
        with self._tx() as conn:
            other = self.driver()
            if other is not None:
                raise InputError(
                    f"{self.path}: another sweep driver (pid {other.get('pid')}) is running on this store"
                )
            conn.execute("INSERT OR REPLACE INTO meta VALUES (?, ?)", (DRIVER_KEY, json.dumps(me)))
        return me

    def release_driver(self, me: dict[str, Any]) -> None:
        """Drop this process's claim (best effort: a claim left behind is stale once we exit)."""
        with suppress(StoreWriteError), self._tx() as conn:
            conn.execute("DELETE FROM meta WHERE key=? AND value=?", (DRIVER_KEY, json.dumps(me)))

    # -- reading ---------------------------------------------------------------------------
    def _read_error(self, exc: sqlite3.DatabaseError) -> InputError:
        """A page the integrity check did not reach (or damaged since): one line, not a traceback."""
        low = str(exc).lower()
        if "malformed" in low or "not a database" in low or "corrupt" in low:
            return self._damaged(exc)
        return InputError(f"{self.path}: cannot read the store (sqlite: {exc})")

    def _rows(self, sql: str, params: Iterable[Any] = ()) -> list[tuple[Any, ...]]:
        try:
            return self._conn.execute(sql, tuple(params)).fetchall()
        except sqlite3.DatabaseError as exc:
            raise self._read_error(exc) from None

    def _df(self, sql: str, params: Iterable[Any] = ()) -> pd.DataFrame:
        try:
            return pd.read_sql_query(sql, self._conn, params=list(params))
        except sqlite3.DatabaseError as exc:
            raise self._read_error(exc) from None
        except pd.errors.DatabaseError as exc:  # pandas wraps the sqlite3 error
            cause = exc.__cause__ if isinstance(exc.__cause__, sqlite3.DatabaseError) else exc
            raise self._read_error(cause) from None  # type: ignore[arg-type]

    def studies(self) -> pd.DataFrame:
        return self._df(
            "SELECT s.name, s.created, COUNT(sr.run_id) AS runs FROM studies s "
            "LEFT JOIN study_runs sr ON sr.study = s.name GROUP BY s.name ORDER BY s.created"
        )

    def study_spec(self, name: str) -> dict[str, Any] | None:
        rows = self._rows("SELECT spec FROM studies WHERE name=?", (name,))
        return json.loads(rows[0][0]) if rows and rows[0][0] else None

    def statuses(self, run_ids: Iterable[str] | None = None) -> dict[str, str]:
        """run id -> status for the given ids (or all runs)."""
        rows = self._rows("SELECT id, status FROM runs")
        wanted = set(run_ids) if run_ids is not None else None
        return {rid: st for rid, st in rows if wanted is None or rid in wanted}

    def runs(self, study: str | None = None, status: str | None = None) -> pd.DataFrame:
        """One row per run: id, study, status, error, timings, N, N_total, D, C_6ND, C_exact, loss, spec."""
        where, params = [], []
        if study is not None:
            where.append("sr.study = ?")
            params.append(study)
        if status is not None:
            where.append("r.status = ?")
            params.append(status)
        sql = (
            "SELECT r.id, GROUP_CONCAT(sr.study) AS study, r.status, r.error, r.host, r.started, r.finished, "
            "r.wall_time, r.N, r.N_total, r.D, r.C_6ND, r.C_exact, r.C_kaplan, r.loss, r.source, r.spec, r.final "
            "FROM runs r LEFT JOIN study_runs sr ON sr.run_id = r.id"
            + (" WHERE " + " AND ".join(where) if where else "")
            + " GROUP BY r.id ORDER BY r.N, r.D, r.id"
        )
        df = self._df(sql, params)
        for col in (
            "started",
            "finished",
            "wall_time",
            "N",
            "N_total",
            "D",
            "C_6ND",
            "C_exact",
            "C_kaplan",
            "loss",
        ):
            df[col] = pd.to_numeric(df[col], errors="coerce")
        for col in ("study", "error", "host"):  # text: None, never a float NaN
            df[col] = df[col].astype(object).where(df[col].notna(), None)
        return df

    def run(self, run_id: str) -> dict[str, Any]:
        """One run as a dict (spec and final parsed; evals included). Unknown id -> InputError."""
        df = self._df(
            "SELECT r.*, GROUP_CONCAT(sr.study) AS study FROM runs r "
            "LEFT JOIN study_runs sr ON sr.run_id = r.id WHERE r.id = ? GROUP BY r.id",
            (run_id,),
        )
        if df.empty:
            # a prefix compared as text: LIKE would read % and _ in the id as wildcards
            matches = self._rows("SELECT id FROM runs WHERE substr(id, 1, ?) = ?", (len(run_id), run_id))
            if len(matches) == 1:
                return self.run(matches[0][0])
            what = "is ambiguous" if matches else "not found"
            raise InputError(f"run {run_id!r} {what} in {self.path}")
        out = {k: (None if isinstance(v, float) and math.isnan(v) else v) for k, v in df.iloc[0].items()}
        out["spec"] = json.loads(out["spec"])
        out["final"] = json.loads(out["final"]) if isinstance(out.get("final"), str) else {}
        out["evals"] = dict(self._rows("SELECT eval_set, loss FROM evals WHERE run_id=?", (out["id"],)))
        out["curve_points"] = self._rows("SELECT COUNT(*) FROM curves WHERE run_id=?", (out["id"],))[0][0]
        return out

    def _run_ids(self, run_ids: Iterable[str] | str | None, study: str | None) -> list[str] | None:
        if isinstance(run_ids, str):
            run_ids = [run_ids]
        if study is not None:
            ids = [r[0] for r in self._rows("SELECT run_id FROM study_runs WHERE study=?", (study,))]
            return ids if run_ids is None else [i for i in ids if i in set(run_ids)]
        return list(run_ids) if run_ids is not None else None

    def _by_run(self, table: str, cols: str, ids: list[str] | None, order: str) -> pd.DataFrame:
        if ids is None:
            return self._df(f"SELECT {cols} FROM {table} ORDER BY {order}")
        frames = [
            self._df(
                f"SELECT {cols} FROM {table} WHERE run_id IN ({','.join('?' * len(chunk))}) ORDER BY {order}",
                chunk,
            )
            for chunk in (ids[i : i + 500] for i in range(0, max(len(ids), 1), 500))
        ]
        return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()

    def curves(self, run_ids: Iterable[str] | str | None = None, study: str | None = None) -> pd.DataFrame:
        """Per-step rows: run_id, step, CURVE_COLUMNS, `eval_loss:<set>` (and `bpb:<set>`) per eval
        set, `loss` (the primary eval set's loss, else the train loss), `bpb` (the primary eval set's bits
        per byte, NaN where unknown) and the run's N, D."""
        ids = self._run_ids(run_ids, study)
        cols = "run_id, step, " + ", ".join(CURVE_COLUMNS) + ", extra"
        df = self._by_run("curves", cols, ids, "run_id, step")
        ev = self._by_run("curve_evals", "run_id, step, eval_set, loss, bpb", ids, "run_id, step")
        for col in (*CURVE_COLUMNS, "step"):
            df[col] = pd.to_numeric(df[col], errors="coerce")
        if not df.empty and df["extra"].notna().any():
            extra = pd.DataFrame(
                [json.loads(x) if isinstance(x, str) else {} for x in df["extra"]], index=df.index
            )
            df = pd.concat([df, extra.drop(columns=[c for c in extra if c in df], errors="ignore")], axis=1)
        df = df.drop(columns="extra")
        if not ev.empty:
            for value, prefix in (("loss", "eval_loss"), ("bpb", "bpb")):
                if ev[value].isna().all():
                    continue
                wide = ev.pivot_table(
                    index=["run_id", "step"], columns="eval_set", values=value, aggfunc="last"
                )
                wide.columns = [f"{prefix}:{c}" for c in wide.columns]
                df = df.merge(wide.reset_index(), on=["run_id", "step"], how="outer")
        meta = self._df("SELECT id AS run_id, N, D, final FROM runs")
        primary = {
            rid: (json.loads(f).get("primary_eval") if isinstance(f, str) else None)
            for rid, f in zip(meta.run_id, meta.final, strict=False)
        }
        loss = (
            df["train_loss"].astype(float).copy() if "train_loss" in df else pd.Series(float("nan"), df.index)
        )
        bpb = pd.Series(float("nan"), df.index)
        for rid, name in primary.items():
            col, run = f"eval_loss:{name}", df["run_id"] == rid
            if name and col in df:
                mask = run & df[col].notna()
                loss[mask] = df.loc[mask, col]
            if name and f"bpb:{name}" in df:
                bpb[run] = df.loc[run, f"bpb:{name}"]
        df["loss"] = loss
        df["bpb"] = bpb  # bits per byte of the primary eval set: a unit shared across tokenizers
        df = df.merge(meta[["run_id", "N", "D"]], on="run_id", how="left")
        return df.sort_values(["run_id", "step"], ignore_index=True)

    def evals(self, run_ids: Iterable[str] | str | None = None, study: str | None = None) -> pd.DataFrame:
        return self._by_run(
            "evals", "run_id, eval_set, loss", self._run_ids(run_ids, study), "run_id, eval_set"
        )

    def position_loss(
        self, run_ids: Iterable[str] | str | None = None, study: str | None = None
    ) -> pd.DataFrame:
        return self._by_run(
            "position_loss",
            "run_id, eval_set, position, loss",
            self._run_ids(run_ids, study),
            "run_id, eval_set, position",
        )

    def fit_table(self, study: str | None = None, include_diverged: bool = False) -> pd.DataFrame:
        """What fitting needs, one row per finished run: run, N (non-embedding), N_total, D,
        C (= 6ND), C_6ND, C_exact, loss, then the spec flattened (shape and hyper-parameters)."""
        statuses = FINISHED if include_diverged else ("completed",)
        runs = self.runs(study=study)
        runs = runs[runs["status"].isin(statuses) & runs["loss"].notna()]
        rows = []
        for r in runs.itertuples(index=False):
            row = {
                "run": r.id,
                "N": r.N,
                "N_total": r.N_total,
                "D": r.D,
                "C": r.C_6ND if r.C_6ND is not None and not pd.isna(r.C_6ND) else 6.0 * r.N * r.D,
                "C_6ND": r.C_6ND,
                "C_exact": r.C_exact,
                "C_kaplan": r.C_kaplan,
                "loss": r.loss,
                "status": r.status,
                "source": r.source,
            }
            epochs = _num((json.loads(r.final) if r.final else {}).get("epochs"))
            if epochs is not None and epochs > 0 and r.D is not None:
                row["U"] = r.D / max(epochs, 1.0)  # distinct tokens seen (data-constrained fits)
            for key, value in flatten_spec(json.loads(r.spec)).items():
                row.setdefault(key, value)
            rows.append(row)
        base = ["run", "N", "N_total", "D", "C", "C_6ND", "C_exact", "C_kaplan", "loss", "status", "source"]
        return pd.DataFrame(rows, columns=None if rows else base)

    def fits(self, study: str | None = None, form: str | None = None) -> pd.DataFrame:
        where, params = [], []
        if study is not None:
            where.append("study=?")
            params.append(study)
        if form is not None:
            where.append("form=?")
            params.append(form)
        return self._df(
            "SELECT id, study, form, created FROM fits"
            + (" WHERE " + " AND ".join(where) if where else "")
            + " ORDER BY id",
            params,
        )

    def load_fit(
        self, fit_id: int | None = None, study: str | None = None, form: str | None = None
    ) -> dict[str, Any]:
        """A fit's JSON by id, or the latest one for (study, form)."""
        if fit_id is not None:
            rows = self._rows("SELECT json FROM fits WHERE id=?", (fit_id,))
        else:
            rows = self._rows(
                "SELECT json FROM fits WHERE (? IS NULL OR study=?) AND (? IS NULL OR form=?) ORDER BY id DESC LIMIT 1",
                (study, study, form, form),
            )
        if not rows:
            raise InputError(f"no fit {fit_id if fit_id is not None else (study, form)} in {self.path}")
        return json.loads(rows[0][0])


def _curve_rows(run_id: str, curve: pd.DataFrame) -> Iterator[tuple[Any, ...]]:
    others = [c for c in curve.columns if c not in CURVE_COLUMNS and c != "step"]
    for rec in curve.to_dict("records"):
        # a NaN is a step without that value (a wide table's gap), not a value to keep
        extra = {c: plain(rec[c]) for c in others if rec.get(c) is not None and not _is_nan(rec[c])}
        yield (
            run_id,
            int(rec["step"]),
            *(_num(rec.get(c)) for c in CURVE_COLUMNS),
            dumps(extra) if extra else None,
        )
