"""The embedded SQLite stores that evaluations write as items complete, one typed table per task.

One row per item (a video, or an AVA keyframe), committed as soon as the item's scores are known,
so a run killed at any point (Ctrl-C, ``kill -9``, a power cut) loses at most the items that were
in flight. ``--resume`` reopens the store, checks that it belongs to the same evaluation (model,
protocol, data, engine, provider, device, precision, weights), and skips every item already in it;
the item's id is the primary key, so none is ever counted twice.

A store file handed to ``--resume`` is user input: it is opened with ``trusted_schema=OFF`` and
refused, before any statement runs, unless its whole schema (every object, by type, name and SQL) is
the one this code writes.
"""

from __future__ import annotations

import json
import sqlite3
import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import ClassVar

import numpy as np

from actionzoo.data.work_item import Status
from actionzoo.errors import UsageError
from actionzoo.fileio.display import escape, shown
from actionzoo.runtime.distributed import gather_items

__all__ = ["ResultsStore", "KeyframeStore", "VideoResult", "KeyframeResult", "open_sharded",
           "merge_shards"]

# A run setting is a short JSON value (a model name, a protocol, a path).
_MAX_CONFIG_VALUE = 1 << 16
_STATUSES = frozenset(status.value for status in Status)
_RUN_TABLE = "CREATE TABLE IF NOT EXISTS run (key TEXT PRIMARY KEY, value TEXT NOT NULL);"


_SCHEMAS: dict[type, set[tuple[str, str, str, str | None]]] = {}


class _Store:
    """The shared mechanics: the run configuration, resume rules, schema checks."""

    TABLE: ClassVar[str]
    SCHEMA: ClassVar[str]
    COLUMNS: ClassVar[list[str]]
    KEY: ClassVar[str]

    def __init__(self, path: str | Path, config: Mapping[str, object], *, resume: bool) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        try:
            self._db = sqlite3.connect(self.path, isolation_level=None)
            # Views and triggers of a foreign file must not run functions with side effects.
            self._db.execute("PRAGMA trusted_schema=OFF")
            self._db.execute("PRAGMA cell_size_check=ON")
            self._check_schema()
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute("PRAGMA synchronous=NORMAL")
            self._db.executescript(_RUN_TABLE + self.SCHEMA)
        except sqlite3.DatabaseError as error:
            raise UsageError(f"{self.path}: not a results database ({escape(str(error), 120)})") from None
        try:
            self._open_run(config, resume)
        except sqlite3.DatabaseError as error:  # a damaged file found past the schema check
            self._db.close()
            raise UsageError(f"{self.path}: not a readable results database "
                             f"({escape(str(error), 120)})") from None

    def _open_run(self, config: Mapping[str, object], resume: bool) -> None:
        if not resume and self._db.execute(f"SELECT 1 FROM {self.TABLE} LIMIT 1").fetchone():
            self._db.close()
            raise UsageError(
                f"{self.path}: results of an earlier run are there; pass --resume to continue it "
                "or choose another --results file"
            )
        stored = self.config
        wanted = {k: _jsonable(v) for k, v in config.items()}
        differing = [k for k in wanted if k in stored and stored[k] != wanted[k]]
        if differing:
            self._db.close()
            k = differing[0]
            raise UsageError(
                f"{self.path}: belongs to another evaluation ({k} was {shown(stored[k], 80)}, now "
                f"{shown(wanted[k], 80)}); use another --results file"
            )
        with self._db:
            self._db.executemany(
                "INSERT OR IGNORE INTO run (key, value) VALUES (?, ?)",
                [(k, json.dumps(v)) for k, v in wanted.items()],
            )

    def _check_schema(self) -> None:
        """Refuse, before any other statement runs, a file whose schema is not (a subset of) the
        one this class writes, compared object by object: type, name, table and SQL text exactly.
        A name test (``NOT LIKE 'sqlite_%'``) let a trigger named ``sqliteXfix`` through: in LIKE,
        ``_`` matches any character and case is ignored."""
        found = set(self._db.execute("SELECT type, name, tbl_name, sql FROM sqlite_schema"))
        foreign = sorted(found - self.expected_schema(), key=lambda row: (row[0], row[1]))
        if foreign:
            kind, name = foreign[0][0], foreign[0][1]
            what = f"{escape(str(kind), 20)} {escape(str(name), 60)}"
            known = {(row[0], row[1]) for row in self.expected_schema()}
            what = f"its {what} differs from" if (kind, name) in known else f"it holds {what}, not in"
            self._db.close()
            raise UsageError(
                f"{self.path}: not an actionzoo results database for {self.TABLE} ({what} the "
                "schema actionzoo writes)"
            )

    @classmethod
    def expected_schema(cls) -> set[tuple[str, str, str, str | None]]:
        """Every row of ``sqlite_schema`` that this class's own statements create."""
        cached = _SCHEMAS.get(cls)
        if cached is None:
            db = sqlite3.connect(":memory:")
            db.executescript(_RUN_TABLE + cls.SCHEMA)
            cached = set(db.execute("SELECT type, name, tbl_name, sql FROM sqlite_schema"))
            db.close()
            _SCHEMAS[cls] = cached
        return cached

    def _reading(self, rows: Iterator) -> Iterator:
        """``rows``, with a damaged file's sqlite error turned into one line naming it."""
        try:
            yield from rows
        except sqlite3.DatabaseError as error:
            raise UsageError(f"{self.path}: not a readable results database "
                             f"({escape(str(error), 120)})") from None

    def done_ids(self) -> set[str]:
        try:
            return {row[0] for row in self._db.execute(f"SELECT {self.KEY} FROM {self.TABLE}")}
        except sqlite3.DatabaseError as error:
            raise UsageError(f"{self.path}: not a readable results database "
                             f"({escape(str(error), 120)})") from None

    def _malformed(self, what: object) -> UsageError:
        return UsageError(f"{self.path}: a stored row of {self.TABLE} is malformed ({shown(what, 80)}); "
                          "use another --results file")

    def close(self) -> None:
        self._db.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @property
    def config(self) -> dict[str, object]:
        config = {}
        for key, value in self._db.execute("SELECT key, value FROM run"):
            try:
                if not isinstance(value, str) or len(value) > _MAX_CONFIG_VALUE:
                    raise ValueError
                config[key] = json.loads(value)
            except (ValueError, RecursionError):
                raise self._malformed(f"run {key}") from None
        return config

    def absorb(self, part: Path) -> int:
        """Copy every row of another store of this kind (a process's part file) into this one and
        delete that file; returns the number of rows."""
        with type(self)(part, {}, resume=True) as other:
            rows = other._db.execute(f"SELECT * FROM {self.TABLE}").fetchall()
        marks = ", ".join("?" * len(self.COLUMNS))
        with self._db:
            self._db.executemany(f"INSERT OR REPLACE INTO {self.TABLE} VALUES ({marks})", rows)
        for suffix in ("", "-wal", "-shm"):
            Path(str(part) + suffix).unlink(missing_ok=True)
        return len(rows)


@dataclass(frozen=True)
class VideoResult:
    video_id: str
    position: int
    path: str
    label: int | None
    status: Status
    reason: str | None
    num_views: int | None
    scores: np.ndarray | None
    decode_s: float | None
    preprocess_s: float | None


class ResultsStore(_Store):
    """Recognition results: one row per video with its combined score vector."""

    TABLE = "videos"
    KEY = "video_id"
    COLUMNS = ["video_id", "position", "path", "label", "status", "reason", "num_views", "scores",
               "decode_s", "preprocess_s", "finished_at"]
    SCHEMA = f"""
CREATE TABLE IF NOT EXISTS videos (
    video_id TEXT PRIMARY KEY,
    position INTEGER NOT NULL,
    path TEXT NOT NULL,
    label INTEGER,
    status TEXT NOT NULL CHECK (status IN ({Status.sql_values()})),
    reason TEXT,
    num_views INTEGER,
    scores BLOB,
    decode_s REAL,
    preprocess_s REAL,
    finished_at REAL NOT NULL
);
"""

    def record_success(
        self,
        video_id: str,
        position: int,
        path: str,
        label: int | None,
        scores: np.ndarray,
        num_views: int,
        decode_s: float,
        preprocess_s: float,
    ) -> None:
        blob = np.ascontiguousarray(scores, dtype=np.float64).tobytes()
        self._db.execute(
            "INSERT OR REPLACE INTO videos VALUES (?, ?, ?, ?, ?, NULL, ?, ?, ?, ?, ?)",
            (video_id, position, path, label, Status.OK, num_views, blob, decode_s, preprocess_s,
             time.time()),
        )

    def record_failure(
        self, video_id: str, position: int, path: str, label: int | None, reason: str
    ) -> None:
        self._db.execute(
            "INSERT OR REPLACE INTO videos VALUES (?, ?, ?, ?, ?, ?, NULL, NULL, NULL, NULL, ?)",
            (video_id, position, path, label, Status.FAILED, reason, time.time()),
        )

    def results(self) -> Iterator[VideoResult]:
        """Every stored video in annotation order."""
        return self._reading(self._video_results())

    def _video_results(self) -> Iterator[VideoResult]:
        rows = self._db.execute(
            "SELECT video_id, position, path, label, status, reason, num_views, scores, decode_s, "
            "preprocess_s FROM videos ORDER BY position"
        )
        for vid, pos, path, label, status, reason, views, blob, dec, pre in rows:
            if not (isinstance(vid, str) and type(pos) is int and isinstance(path, str)
                    and (label is None or type(label) is int) and status in _STATUSES
                    and (blob is None or (isinstance(blob, bytes) and len(blob) % 8 == 0))):
                raise self._malformed(vid)
            scores = np.frombuffer(blob, dtype=np.float64) if blob is not None else None
            yield VideoResult(vid, pos, path, label, Status(status), reason, views, scores, dec,
                              pre)


@dataclass(frozen=True)
class KeyframeResult:
    key: str  # "video_id,%04d"
    position: int  # index in the test set's order
    video_id: str
    second: int
    status: Status
    reason: str | None
    ori_boxes: np.ndarray | None  # (K, 4) float64, normalised
    scores: np.ndarray | None  # (K, num_classes) float64
    decode_s: float | None
    preprocess_s: float | None


class KeyframeStore(_Store):
    """Detection results: one row per keyframe with its boxes and their per-class scores."""

    TABLE = "keyframes"
    KEY = "key"
    COLUMNS = ["key", "position", "video_id", "second", "status", "reason", "num_boxes", "boxes",
               "scores", "decode_s", "preprocess_s", "finished_at"]
    SCHEMA = f"""
CREATE TABLE IF NOT EXISTS keyframes (
    key TEXT PRIMARY KEY,
    position INTEGER NOT NULL,
    video_id TEXT NOT NULL,
    second INTEGER NOT NULL,
    status TEXT NOT NULL CHECK (status IN ({Status.sql_values()})),
    reason TEXT,
    num_boxes INTEGER,
    boxes BLOB,
    scores BLOB,
    decode_s REAL,
    preprocess_s REAL,
    finished_at REAL NOT NULL
);
"""

    def done_keys(self) -> set[str]:
        return self.done_ids()

    def record_success(self, position: int, key: str, video_id: str, second: int,
                       ori_boxes: np.ndarray, scores: np.ndarray, decode_s: float,
                       preprocess_s: float) -> None:
        boxes = np.ascontiguousarray(ori_boxes, dtype=np.float64).reshape(-1, 4)
        scores = np.ascontiguousarray(scores, dtype=np.float64)
        if scores.ndim != 2 or len(scores) != len(boxes):
            raise RuntimeError(f"{key}: scores {scores.shape} for {len(boxes)} boxes")
        self._db.execute(
            "INSERT OR REPLACE INTO keyframes VALUES (?, ?, ?, ?, ?, NULL, ?, ?, ?, ?, ?, ?)",
            (key, position, video_id, second, Status.OK, len(boxes), boxes.tobytes(),
             scores.tobytes(), decode_s, preprocess_s, time.time()),
        )

    def record_failure(self, position: int, key: str, video_id: str, second: int,
                       reason: str) -> None:
        self._db.execute(
            "INSERT OR REPLACE INTO keyframes VALUES "
            "(?, ?, ?, ?, ?, ?, NULL, NULL, NULL, NULL, NULL, ?)",
            (key, position, video_id, second, Status.FAILED, reason, time.time()),
        )

    def results(self) -> Iterator[KeyframeResult]:
        """Every stored keyframe in test-set order."""
        return self._reading(self._keyframe_results())

    def _keyframe_results(self) -> Iterator[KeyframeResult]:
        rows = self._db.execute(
            "SELECT key, position, video_id, second, status, reason, num_boxes, boxes, scores, "
            "decode_s, preprocess_s FROM keyframes ORDER BY position"
        )
        for key, pos, video, second, status, reason, count, boxes, scores, dec, pre in rows:
            ori = sc = None
            if not (isinstance(key, str) and type(pos) is int and isinstance(video, str)
                    and type(second) is int and status in _STATUSES):
                raise self._malformed(key)
            status = Status(status)
            if status is Status.OK and boxes is not None and scores is not None:
                try:
                    if type(count) is not int or count < 0:
                        raise ValueError
                    ori = np.frombuffer(boxes, dtype=np.float64).reshape(count, 4)
                    sc = np.frombuffer(scores, dtype=np.float64).reshape(count, -1) if count else \
                        np.zeros((0, 0))
                except (TypeError, ValueError):
                    raise self._malformed(key) from None
            yield KeyframeResult(key, pos, video, second, status, reason, ori, sc, dec, pre)


def _jsonable(value: object) -> object:
    return json.loads(json.dumps(value, default=str))


# ------------------------------------------------------------------------- several processes


def _parts(results: Path) -> list[Path]:
    return sorted(p for p in results.parent.glob(results.name + ".rank*")
                  if not p.name.endswith(("-wal", "-shm")))


def open_sharded(store_cls: type[_Store], results: str | Path, config: Mapping[str, object], *,
                 resume: bool, ctx) -> _Store:
    """The store this process writes under torchrun: rank 0 writes the results file itself (after
    taking in the part files a killed distributed run left), every other rank ``<file>.rank<r>``.
    On one process this is just ``store_cls(results, config, resume=resume)``."""
    results = Path(results)
    if not ctx.distributed:
        return store_cls(results, config, resume=resume)
    if ctx.is_main:
        leftovers = _parts(results)
        if leftovers and not resume:
            raise UsageError(f"{results}: part files of an interrupted distributed run are there "
                             f"({leftovers[0].name}); pass --resume to continue it")
        with store_cls(results, config, resume=resume) as main:
            for part in leftovers:
                main.absorb(part)
    ctx.barrier()
    path = results if ctx.is_main else results.with_name(f"{results.name}.rank{ctx.rank}")
    return store_cls(path, config, resume=True)


def merge_shards(store: _Store, ctx, *, interrupted: bool, scored: int) -> tuple[bool, int]:
    """After every process has scored its share into its part of a sharded store
    (:func:`open_sharded`): the others close their part files and rank 0's store takes them in,
    so it holds every item exactly once. Returns, on every process, whether any process was
    interrupted and how many items all of them scored in this run."""
    flags = gather_items(ctx, [(bool(interrupted), int(scored))])
    if ctx.distributed:
        if not ctx.is_main:
            store.close()
        ctx.barrier()
        if ctx.is_main:
            for part in _parts(store.path):
                store.absorb(part)
    return any(i for i, _ in flags), sum(n for _, n in flags)
