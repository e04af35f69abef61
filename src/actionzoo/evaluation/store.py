"""The embedded SQLite store that evaluation writes as videos complete.

One row per video, committed as soon as the video's score is known, so a run killed at any point
(Ctrl-C, ``kill -9``, a power cut) loses at most the videos that were in flight. ``--resume`` reopens
the store, checks it belongs to the same evaluation, and skips every video already in it; the
video id is the primary key, so no video is ever counted twice.
"""

from __future__ import annotations

import json
import sqlite3
import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from actionzoo.errors import UsageError

__all__ = ["ResultsStore", "VideoResult"]

_SCHEMA = """
CREATE TABLE IF NOT EXISTS run (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS videos (
    video_id TEXT PRIMARY KEY,
    position INTEGER NOT NULL,
    path TEXT NOT NULL,
    label INTEGER,
    status TEXT NOT NULL CHECK (status IN ('ok', 'failed')),
    reason TEXT,
    num_views INTEGER,
    scores BLOB,
    decode_s REAL,
    preprocess_s REAL,
    finished_at REAL NOT NULL
);
"""


@dataclass(frozen=True)
class VideoResult:
    video_id: str
    position: int
    path: str
    label: int | None
    status: str
    reason: str | None
    num_views: int | None
    scores: np.ndarray | None
    decode_s: float | None
    preprocess_s: float | None


class ResultsStore:
    """Results of one evaluation, identified by its configuration (model, protocol, data, engine)."""

    def __init__(self, path: str | Path, config: Mapping[str, object], *, resume: bool) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        try:
            self._db = sqlite3.connect(self.path, isolation_level=None)
            # A results file handed to --resume is user input: views and triggers in it must not
            # run functions with side effects, and its tables must be the ones this code wrote.
            self._db.execute("PRAGMA trusted_schema=OFF")
            _check_schema(self._db, self.path)
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute("PRAGMA synchronous=NORMAL")
            self._db.executescript(_SCHEMA)
        except sqlite3.DatabaseError as error:
            raise UsageError(f"{self.path}: not a results database ({error})") from None
        if not resume and self._db.execute("SELECT 1 FROM videos LIMIT 1").fetchone():
            self._db.close()
            raise UsageError(
                f"{self.path}: results of an earlier run are there; pass --resume to continue it "
                "or choose another --results file"
            )
        stored = {k: json.loads(v) for k, v in self._db.execute("SELECT key, value FROM run")}
        wanted = {k: _jsonable(v) for k, v in config.items()}
        if stored:
            differing = [k for k in wanted if k in stored and stored[k] != wanted[k]]
            if differing:
                self._db.close()
                k = differing[0]
                raise UsageError(
                    f"{self.path}: belongs to another evaluation ({k} was {stored[k]!r}, now "
                    f"{wanted[k]!r}); use another --results file"
                )
        with self._db:
            self._db.executemany(
                "INSERT OR IGNORE INTO run (key, value) VALUES (?, ?)",
                [(k, json.dumps(v)) for k, v in wanted.items()],
            )

    def close(self) -> None:
        self._db.close()

    def __enter__(self) -> ResultsStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @property
    def config(self) -> dict[str, object]:
        return {k: json.loads(v) for k, v in self._db.execute("SELECT key, value FROM run")}

    def done_ids(self) -> set[str]:
        return {row[0] for row in self._db.execute("SELECT video_id FROM videos")}

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
            "INSERT OR REPLACE INTO videos VALUES (?, ?, ?, ?, 'ok', NULL, ?, ?, ?, ?, ?)",
            (video_id, position, path, label, num_views, blob, decode_s, preprocess_s, time.time()),
        )

    def record_failure(
        self, video_id: str, position: int, path: str, label: int | None, reason: str
    ) -> None:
        self._db.execute(
            "INSERT OR REPLACE INTO videos VALUES (?, ?, ?, ?, 'failed', ?, NULL, NULL, NULL, NULL, ?)",
            (video_id, position, path, label, reason, time.time()),
        )

    def results(self) -> Iterator[VideoResult]:
        """Every stored video in annotation order."""
        rows = self._db.execute(
            "SELECT video_id, position, path, label, status, reason, num_views, scores, decode_s, "
            "preprocess_s FROM videos ORDER BY position"
        )
        for vid, pos, path, label, status, reason, views, blob, dec, pre in rows:
            scores = np.frombuffer(blob, dtype=np.float64) if blob is not None else None
            yield VideoResult(vid, pos, path, label, status, reason, views, scores, dec, pre)


_EXPECTED_TABLES = {
    "run": ["key", "value"],
    "videos": ["video_id", "position", "path", "label", "status", "reason", "num_views", "scores",
               "decode_s", "preprocess_s", "finished_at"],
}


def _check_schema(db: sqlite3.Connection, path: Path) -> None:
    """Refuse a file whose schema this code did not write (extra views, triggers, other columns)."""
    objects = db.execute("SELECT type, name FROM sqlite_master WHERE name NOT LIKE 'sqlite_%'").fetchall()
    foreign = [f"{kind} {name}" for kind, name in objects
               if kind != "table" or name not in _EXPECTED_TABLES]
    for table, columns in _EXPECTED_TABLES.items():
        found = [row[1] for row in db.execute(f"PRAGMA table_info({table})")]
        if found and found != columns:
            foreign.append(f"table {table} with columns {', '.join(found)}")
    if foreign:
        db.close()
        raise UsageError(f"{path}: not an actionzoo results database (it holds {foreign[0]})")


def _jsonable(value: object) -> object:
    return json.loads(json.dumps(value, default=str))
