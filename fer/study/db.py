"""The study's database: SQLite in WAL mode through the standard library, one file `study.sqlite` per study.

Every write is one short transaction committed before its request returns (`synchronous=FULL`), so an answer the
server acknowledged survives `kill -9` of the server. The answer of a rater at a position is keyed by
(rater, position): a second submission of it changes nothing. Link tokens and session ids are stored only as
SHA-256 hashes (both are long random strings, so a plain hash is enough).
"""

from __future__ import annotations

import hashlib
import json
import secrets
import sqlite3
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from fer.classes import CLASSES
from fer.errors import UserError

DB_FILE = "study.sqlite"
IMAGES = "images"
MANIFEST = "manifest.json"
FORMAT = "fer-study"
VERSION = 1
KINDS = ("real", "generated")
CANT_TELL = "cant_tell"
EXPRESSIONS = (*CLASSES, CANT_TELL)
# The real-or-generated answer with its confidence, left to right on the page: (judged, confidence).
JUDGEMENTS = {
    "real-sure": ("real", 2),
    "real-unsure": ("real", 1),
    "generated-unsure": ("generated", 1),
    "generated-sure": ("generated", 2),
}

SCHEMA = """
CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE items (
    id TEXT PRIMARY KEY,
    file TEXT NOT NULL UNIQUE,
    kind TEXT NOT NULL CHECK (kind IN ('real', 'generated')),
    label TEXT NOT NULL,
    subject TEXT NOT NULL,
    source TEXT NOT NULL,
    origin_file TEXT NOT NULL
);
CREATE TABLE raters (
    id INTEGER PRIMARY KEY,
    name TEXT NOT NULL UNIQUE,
    token_hash TEXT NOT NULL UNIQUE,
    created TEXT NOT NULL
);
CREATE TABLE assignments (
    rater_id INTEGER NOT NULL REFERENCES raters(id),
    position INTEGER NOT NULL,
    item_id TEXT NOT NULL REFERENCES items(id),
    repeat_of INTEGER,
    PRIMARY KEY (rater_id, position)
);
CREATE TABLE answers (
    rater_id INTEGER NOT NULL,
    position INTEGER NOT NULL,
    item_id TEXT NOT NULL REFERENCES items(id),
    expression TEXT NOT NULL,
    judged TEXT NOT NULL CHECK (judged IN ('real', 'generated')),
    confidence INTEGER NOT NULL CHECK (confidence IN (1, 2)),
    elapsed_ms INTEGER,
    answered_at TEXT NOT NULL,
    PRIMARY KEY (rater_id, position),
    FOREIGN KEY (rater_id, position) REFERENCES assignments(rater_id, position)
);
CREATE TABLE sessions (
    id_hash TEXT PRIMARY KEY,
    rater_id INTEGER NOT NULL REFERENCES raters(id),
    csrf TEXT NOT NULL,
    created TEXT NOT NULL
);
"""


class StudyError(UserError):
    """A study folder, a rater or an input of the study commands is not what it should be."""


def digest(secret: str) -> str:
    """The stored form of a link token or session id: its SHA-256, in hex."""
    return hashlib.sha256(secret.encode()).hexdigest()


def now() -> str:
    """The local time, ISO 8601 with its offset."""
    return time.strftime("%Y-%m-%dT%H:%M:%S%z")


def connect(path: Path) -> sqlite3.Connection:
    """A connection in autocommit mode (transactions are explicit), WAL, foreign keys on, full sync."""
    conn = sqlite3.connect(str(path), timeout=30, isolation_level=None, check_same_thread=False)
    conn.row_factory = sqlite3.Row
    conn.execute("PRAGMA foreign_keys = ON")
    conn.execute("PRAGMA synchronous = FULL")
    conn.execute("PRAGMA busy_timeout = 30000")
    return conn


@contextmanager
def transaction(conn: sqlite3.Connection, immediate: bool = True) -> Iterator[sqlite3.Connection]:
    """One transaction, committed on leaving the block (rolled back on an exception). IMMEDIATE takes the write
    lock at once, so a read-then-write decision cannot race another writer."""
    conn.execute("BEGIN IMMEDIATE" if immediate else "BEGIN")
    try:
        yield conn
        conn.execute("COMMIT")
    except BaseException:
        if conn.in_transaction:  # also when COMMIT itself failed: the connection stays usable
            conn.execute("ROLLBACK")
        raise


def init_db(path: Path, meta: dict, items: list[dict]) -> None:
    """Create a new study database holding `meta` (JSON values) and `items`."""
    conn = connect(path)
    try:
        if conn.execute("PRAGMA journal_mode = WAL").fetchone()[0].lower() != "wal":
            raise StudyError(f"{path.parent}: SQLite cannot use WAL mode there (a network file system?)")
        conn.executescript(SCHEMA)
        with transaction(conn):
            conn.executemany(
                "INSERT INTO meta (key, value) VALUES (?, ?)",
                [(k, json.dumps(v)) for k, v in {"format": FORMAT, "version": VERSION, **meta}.items()],
            )
            conn.executemany(
                "INSERT INTO items (id, file, kind, label, subject, source, origin_file) "
                "VALUES (:id, :file, :kind, :label, :subject, :source, :origin_file)",
                items,
            )
    finally:
        conn.close()


@dataclass(frozen=True)
class Rater:
    """A rater: their row id and name."""

    id: int
    name: str


@dataclass(frozen=True)
class Session:
    """A browser session: its rater and the form token that the session's forms carry."""

    rater: Rater
    csrf: str


class Study:
    """An existing study folder; `open` checks that it is one. Connections are per thread (the web app serves
    requests from a thread pool)."""

    def __init__(self, folder: Path):
        self.folder = folder
        self.path = folder / DB_FILE
        self._local = threading.local()
        self.meta = {r["key"]: json.loads(r["value"]) for r in self.conn.execute("SELECT key, value FROM meta")}

    @classmethod
    def open(cls, folder: str | Path) -> Study:
        """The study in `folder`; a `StudyError` naming what is wrong when it is not one."""
        folder = Path(folder).expanduser()
        hint = "create one with `python -m fer.study create <out dir> --generated <samples> --real <source>`"
        if not folder.is_dir():
            raise StudyError(f"{folder} is not a study folder (it does not exist); {hint}")
        if not (folder / DB_FILE).is_file():
            raise StudyError(f"{folder} is not a study folder (no {DB_FILE} in it); {hint}")
        try:
            study = cls(folder)
        except (sqlite3.DatabaseError, ValueError) as e:
            raise StudyError(f"{folder / DB_FILE} is not a study database ({e}); {hint}") from None
        if study.meta.get("format") != FORMAT:
            raise StudyError(f"{folder / DB_FILE} is not a study database (no study format marker); {hint}")
        if study.meta.get("version") != VERSION:
            raise StudyError(
                f"{folder}: study format version {study.meta.get('version')}, this framework reads {VERSION}"
            )
        return study

    @property
    def conn(self) -> sqlite3.Connection:
        """This thread's connection (opened on first use)."""
        conn = getattr(self._local, "conn", None)
        if conn is None:
            conn = self._local.conn = connect(self.path)
        return conn

    def close(self) -> None:
        """Close this thread's connection."""
        conn = getattr(self._local, "conn", None)
        if conn is not None:
            conn.close()
            self._local.conn = None

    # ------------------------------------------------------------------------------------------ items

    def items(self) -> list[dict]:
        """Every face of the study: blind id, file, kind, class, subject, source, origin file."""
        return [dict(r) for r in self.conn.execute("SELECT * FROM items ORDER BY id")]

    def image_path(self, rater: Rater, item_id: str) -> Path | None:
        """The image file of an item assigned to this rater (None otherwise): the path comes from the study's
        own table, never from the request."""
        row = self.conn.execute(
            "SELECT i.file FROM items i JOIN assignments a ON a.item_id = i.id "
            "WHERE a.rater_id = ? AND i.id = ? LIMIT 1",
            (rater.id, item_id),
        ).fetchone()
        return self.folder / row["file"] if row else None

    # ------------------------------------------------------------------------------------------ raters

    def raters(self) -> list[dict]:
        """The invited raters: id, name, when."""
        return [dict(r) for r in self.conn.execute("SELECT id, name, created FROM raters ORDER BY id")]

    def add_rater(self, name: str, order: list[tuple[str, int | None]]) -> str:
        """A new rater with their order of items ((item id, repeat_of position or None) per position); returns
        the link token (only its hash is stored)."""
        token = secrets.token_urlsafe(24)
        with transaction(self.conn) as c:
            if c.execute("SELECT 1 FROM raters WHERE name = ?", (name,)).fetchone():
                raise StudyError(
                    f"rater {name!r} is already invited; use --new-link to replace a lost link (answers are kept)"
                )
            cur = c.execute(
                "INSERT INTO raters (name, token_hash, created) VALUES (?, ?, ?)", (name, digest(token), now())
            )
            c.executemany(
                "INSERT INTO assignments (rater_id, position, item_id, repeat_of) VALUES (?, ?, ?, ?)",
                [(cur.lastrowid, i, item, rep) for i, (item, rep) in enumerate(order)],
            )
        return token

    def new_link(self, name: str) -> str:
        """Replace a rater's link token (the old link stops working, their sessions are ended)."""
        token = secrets.token_urlsafe(24)
        with transaction(self.conn) as c:
            row = c.execute("SELECT id FROM raters WHERE name = ?", (name,)).fetchone()
            if row is None:
                raise StudyError(f"no rater {name!r} in {self.folder}; invite them first (without --new-link)")
            c.execute("UPDATE raters SET token_hash = ? WHERE id = ?", (digest(token), row["id"]))
            c.execute("DELETE FROM sessions WHERE rater_id = ?", (row["id"],))
        return token

    def rater_by_token(self, token: str) -> Rater | None:
        """The rater whose link carries `token`, or None."""
        row = self.conn.execute("SELECT id, name FROM raters WHERE token_hash = ?", (digest(token),)).fetchone()
        return Rater(row["id"], row["name"]) if row else None

    # ------------------------------------------------------------------------------------------ sessions

    def new_session(self, rater: Rater) -> tuple[str, Session]:
        """A browser session for a rater: (the cookie value, the session with its form token)."""
        sid, csrf = secrets.token_urlsafe(32), secrets.token_urlsafe(32)
        with transaction(self.conn) as c:
            c.execute(
                "INSERT INTO sessions (id_hash, rater_id, csrf, created) VALUES (?, ?, ?, ?)",
                (digest(sid), rater.id, csrf, now()),
            )
        return sid, Session(rater, csrf)

    def session(self, sid: str) -> Session | None:
        """The session of a cookie value, or None."""
        row = self.conn.execute(
            "SELECT r.id, r.name, s.csrf FROM sessions s JOIN raters r ON r.id = s.rater_id WHERE s.id_hash = ?",
            (digest(sid),),
        ).fetchone()
        return Session(Rater(row["id"], row["name"]), row["csrf"]) if row else None

    # ------------------------------------------------------------------------------------------ progress

    def progress(self, rater: Rater) -> tuple[int, int]:
        """(answered, total) positions of a rater."""
        total = self.conn.execute("SELECT COUNT(*) FROM assignments WHERE rater_id = ?", (rater.id,)).fetchone()[0]
        done = self.conn.execute("SELECT COUNT(*) FROM answers WHERE rater_id = ?", (rater.id,)).fetchone()[0]
        return done, total

    def current(self, rater: Rater, conn: sqlite3.Connection | None = None) -> tuple[int, str] | None:
        """The rater's first unanswered (position, item id): where they left off; None when done."""
        row = (
            (conn or self.conn)
            .execute(
                "SELECT a.position, a.item_id FROM assignments a LEFT JOIN answers n "
                "ON n.rater_id = a.rater_id AND n.position = a.position "
                "WHERE a.rater_id = ? AND n.position IS NULL ORDER BY a.position LIMIT 1",
                (rater.id,),
            )
            .fetchone()
        )
        return (row["position"], row["item_id"]) if row else None

    def record(
        self, rater: Rater, position: int, item_id: str, expression: str, judged: str, confidence: int, ms: int | None
    ) -> str:
        """Store one answer, committed before returning: "stored", or "again" when that position was already
        answered (nothing changes). Raises AnswerRefused for a position or item that is not the rater's, or a
        position ahead of the face they are on."""
        with transaction(self.conn) as c:
            row = c.execute(
                "SELECT item_id FROM assignments WHERE rater_id = ? AND position = ?", (rater.id, position)
            ).fetchone()
            if row is None or row["item_id"] != item_id:
                raise AnswerRefused(403, "that face is not one of yours")
            if c.execute("SELECT 1 FROM answers WHERE rater_id = ? AND position = ?", (rater.id, position)).fetchone():
                return "again"
            current = self.current(rater, c)
            if current is None or current[0] != position:
                raise AnswerRefused(409, "answer the faces in order: reload the page for your current face")
            c.execute(
                "INSERT INTO answers (rater_id, position, item_id, expression, judged, confidence, elapsed_ms, "
                "answered_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                (rater.id, position, item_id, expression, judged, confidence, ms, now()),
            )
        return "stored"

    # ------------------------------------------------------------------------------------------ results

    def answers(self) -> list[dict]:
        """Every answer with its item, rater and assignment (repeat_of: the attention check's first position)."""
        return [
            dict(r)
            for r in self.conn.execute(
                "SELECT n.rater_id, r.name AS rater, n.position, a.repeat_of, n.item_id, i.kind, i.label, i.subject, "
                "i.source, n.expression, n.judged, n.confidence, n.elapsed_ms, n.answered_at "
                "FROM answers n JOIN raters r ON r.id = n.rater_id JOIN items i ON i.id = n.item_id "
                "JOIN assignments a ON a.rater_id = n.rater_id AND a.position = n.position "
                "ORDER BY n.rater_id, n.position"
            )
        ]


class AnswerRefused(Exception):
    """An answer the study does not take: an HTTP status and a short message for the page."""

    def __init__(self, status: int, message: str):
        super().__init__(message)
        self.status = status
        self.message = message
