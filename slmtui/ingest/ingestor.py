"""Incremental ingest: bring the store in line with the files in `writing/`.

Only new or changed files are read (size and mtime first, then a content hash); a renamed file
keeps its rows; a deleted one loses them; every passage text keeps the train or validation
split it was first given (`split_policy.assign_new_splits`); a chunk whose text was seen before
reuses its stored signature. Every file that gives no text is recorded with a reason and the
pass goes on. Nothing under `writing/` is ever written: files are opened for reading only.
"""

from __future__ import annotations

import hashlib
import json
import os
import stat
import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath

from tokenizers import Tokenizer

from slmtui.config import Config
from slmtui.ingest import dedupe, split_policy
from slmtui.ingest.chat_parts import ExportSeen, chat_part, refusal
from slmtui.ingest.chats import read_chats
from slmtui.ingest.chats.detect import CHAT_EXPORT_SUFFIXES
from slmtui.ingest.chunking import chunk_paragraphs, encode_paragraphs, paragraphs_of
from slmtui.ingest.extract import (
    ExtractOptions,
    SkipFile,
    extract,
    format_of,
    unsupported_reason,
)
from slmtui.ingest.normalize import normalize_text
from slmtui.ingest.pii import scrub
from slmtui.ingest.store import ChatPart, DocumentRow, NewChunk, Store
from slmtui.locks import WorkLock
from slmtui.tokenizer import load_tokenizer, resolve_source
from slmtui.workspace import Workspace

# Files read, tokenized together and committed in one transaction.
GROUP_SIZE = 64

# Bump when chunking or extraction changes in a way that should re-read every document.
INGEST_VERSION = 1

TEMPORARY_SUFFIXES = (
    ".swp", ".swo", ".swx", ".tmp", ".temp", ".part", ".partial", ".crdownload", ".bak", ".orig",
)  # fmt: skip


@dataclass(frozen=True)
class FileChange:
    path: str
    kind: str  # added | updated | renamed | removed | skipped
    detail: str = ""

    def describe(self) -> str:
        text = f"{self.kind:<8} {self.path}"
        return f"{text}  ({self.detail})" if self.detail else text


@dataclass
class IngestReport:
    changes: list[FileChange] = field(default_factory=list)
    unchanged: int = 0
    bytes_read: int = 0
    duplicates: int = 0
    seconds: float = 0.0
    note: str = ""

    def count(self, kind: str) -> int:
        return sum(change.kind == kind for change in self.changes)

    def summary(self) -> str:
        parts = [
            f"{self.count(kind)} {kind}"
            for kind in ("added", "updated", "renamed", "removed", "skipped")
            if self.count(kind)
        ]
        parts.append(f"{self.unchanged} unchanged")
        text = ", ".join(parts) + f" in {self.seconds:.2f}s"
        return f"{text} ({self.note})" if self.note else text


def path_skip_reason(rel: PurePosixPath) -> str | None:
    """Why a path is not read on its name alone (hidden or an editor's temporary file)."""
    name = rel.name
    if (
        name.startswith((".#", "~$"))
        or (name.startswith("#") and name.endswith("#"))
        or name.endswith("~")
        or name.lower().endswith(TEMPORARY_SUFFIXES)
    ):
        return "editor temporary file"
    if name.startswith("."):
        return "hidden file"
    return None


def in_hidden_folder(rel: PurePosixPath) -> bool:
    return any(part.startswith(".") for part in rel.parts[:-1])


class Ingestor:
    """Owns one Store connection; use it from one thread."""

    def __init__(self, workspace: Workspace, config: Config, tokenizer: Tokenizer | None = None):
        self.workspace = workspace
        self.config = config
        self.writing = workspace.writing
        self.store = Store(
            workspace.db_path, near_duplicate_threshold=config.ingest.near_duplicate_threshold
        )
        self._tokenizer = tokenizer
        self.options = ExtractOptions(strip_email_quotes=config.ingest.strip_email_quotes)
        with WorkLock(workspace.state, "ingest"):
            self._check_settings()

    def close(self) -> None:
        self.store.close()

    def __enter__(self) -> Ingestor:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    @property
    def tokenizer(self) -> Tokenizer:
        if self._tokenizer is None:
            self._tokenizer = load_tokenizer(self.config.model.base)
        return self._tokenizer

    def _check_settings(self) -> None:
        """Re-read everything when a setting that shapes chunks changed since the last pass."""
        ingest = self.config.ingest
        settings = json.dumps(
            {
                "version": INGEST_VERSION,
                "tokenizer": resolve_source(self.config.model.base).fingerprint,
                "chunk_tokens": ingest.chunk_tokens,
                "min_chunk_tokens": ingest.min_chunk_tokens,
                "validation_fraction": ingest.validation_fraction,
                "near_duplicate_threshold": ingest.near_duplicate_threshold,
                "strip_email_quotes": ingest.strip_email_quotes,
                "scrub": sorted(ingest.scrub) if ingest.scrub_pii else [],
                "max_file_mb": ingest.max_file_mb,
                # Who you are decides which exports are refused ("no messages from you").
                "identity": sorted({n.strip().casefold() for n in self.config.identity.names}),
            },
            sort_keys=True,
        )
        if self.store.get_meta("ingest_settings") != settings:
            with self.store.transaction():
                self.store.forget_hashes()
                self.store.set_meta("ingest_settings", settings)
        # Conversations are cut once, at ingest; a new gap cuts every chat again (and its
        # splits with it) instead of leaving readers to cut with a setting the splits never saw.
        if split_policy.cut_with(self.store) != self._gap_seconds:
            with self.store.transaction():
                split_policy.recut_conversations(self.store, self._gap_seconds)
                split_policy.assign_message_splits(
                    self.store, self.config.ingest.validation_fraction, self._gap_seconds
                )

    @property
    def _gap_seconds(self) -> float:
        return float(self.config.ingest.conversation_gap_minutes * 60)

    # -- passes ------------------------------------------------------------------------------

    def scan(self) -> IngestReport:
        """One full pass over writing/ (after any pass another process is making)."""
        with WorkLock(self.workspace.state, "ingest"):
            return self._scan()

    def _scan(self) -> IngestReport:
        started = time.perf_counter()
        if not self.writing.is_dir():
            report = IngestReport(note=f"{self.writing} is missing; nothing changed")
        else:
            present = list(self._walk(self.writing))
            seen = {rel for rel, _ in present}
            vanished = sorted(self.store.paths() - seen)
            report = self._reconcile(present, vanished)
        report.seconds = time.perf_counter() - started
        return report

    def sync(self, paths: Iterable[Path]) -> IngestReport:
        """Bring only these paths (files or folders, existing or gone) up to date."""
        with WorkLock(self.workspace.state, "ingest"):
            return self._sync(paths)

    def _sync(self, paths: Iterable[Path]) -> IngestReport:
        started = time.perf_counter()
        root = self.writing
        present: dict[str, str | None] = {}
        vanished: set[str] = set()
        for path in paths:
            try:
                rel = Path(os.path.abspath(path)).relative_to(os.path.abspath(root))
            except ValueError:
                continue
            if rel == Path("."):
                return self._scan()
            key = rel.as_posix()
            if os.path.lexists(path):
                if os.path.isdir(path) and not os.path.islink(path):
                    present.update(self._walk(Path(path)))
                else:
                    present[key] = None
            else:
                vanished.update(self.store.paths_under(key))
        vanished -= set(present)
        report = self._reconcile(list(present.items()), sorted(vanished))
        report.seconds = time.perf_counter() - started
        return report

    def _walk(self, folder: Path) -> Iterator[tuple[str, str | None]]:
        """(relative path, forced skip reason) for every file under folder, hidden folders once."""
        for current, dirnames, filenames in os.walk(folder, followlinks=False):
            base = Path(current).relative_to(self.writing)
            if in_hidden_folder(PurePosixPath(base.as_posix(), "x")):
                dirnames.clear()
                continue
            for name in list(dirnames):
                if name.startswith("."):
                    dirnames.remove(name)
                    yield (base / name).as_posix(), "hidden folder, not read"
            for name in filenames:
                yield (base / name).as_posix(), None

    def _reconcile(
        self, present: list[tuple[str, str | None]], vanished: list[str]
    ) -> IngestReport:
        report = IngestReport()
        gone_by_hash: dict[str, str] = {}
        for path in vanished:
            row = self.store.document(path)
            if row and row.content_hash:
                gone_by_hash.setdefault(row.content_hash, path)
        for start in range(0, len(present), GROUP_SIZE):
            with self.store.transaction():
                self._sync_group(present[start : start + GROUP_SIZE], gone_by_hash, report)
        leftover = [path for path in vanished if self.store.document(path)]
        self.store.remove(leftover)
        with self.store.transaction():
            fraction = self.config.ingest.validation_fraction
            split_policy.assign_new_splits(self.store, fraction)
            split_policy.assign_message_splits(self.store, fraction, self._gap_seconds)
        report.changes.extend(FileChange(path, "removed") for path in leftover)
        return report

    def _sync_group(
        self,
        group: list[tuple[str, str | None]],
        gone_by_hash: dict[str, str],
        report: IngestReport,
    ) -> None:
        """Read a group of files, tokenize all their paragraphs in one call, store them."""
        prepared: list[_Prepared] = []
        for rel, forced_reason in group:
            outcome = self._sync_one(rel, forced_reason, gone_by_hash, report)
            if isinstance(outcome, _Prepared):
                prepared.append(outcome)
            elif outcome is None:
                report.unchanged += 1
            else:
                report.changes.append(outcome)
        flat = [paragraph for item in prepared for paragraph in item.paragraphs]
        ids = iter(encode_paragraphs(flat, self.tokenizer))
        for item in prepared:
            paragraph_ids = [next(ids) for _ in item.paragraphs]
            change = self._store(item, paragraph_ids, report)
            if change is not None:
                report.changes.append(change)

    # -- one file ----------------------------------------------------------------------------

    def _sync_one(
        self,
        rel: str,
        forced_reason: str | None,
        gone_by_hash: dict[str, str],
        report: IngestReport,
    ) -> FileChange | _Prepared | None:
        """Decide one file: unchanged (None), a final change, or text ready for chunking."""
        path = self.writing / rel
        rel_path = PurePosixPath(rel)
        if in_hidden_folder(rel_path):
            return None
        try:
            info = path.lstat()
        except FileNotFoundError:
            return None
        size, mtime_ns = info.st_size, info.st_mtime_ns
        existing = self.store.document(rel)
        if existing and existing.size == size and existing.mtime_ns == mtime_ns:
            return None
        fmt = format_of(path) or (
            "chat export" if path.suffix.lower() in CHAT_EXPORT_SUFFIXES else None
        )
        reason = forced_reason or path_skip_reason(rel_path) or self._stat_reason(path, info)
        if reason is None and fmt is None:
            reason = unsupported_reason(path)
        if reason is None and size > self.config.ingest.max_file_mb * 1_000_000:
            reason = (
                f"larger than the {self.config.ingest.max_file_mb:g} MB limit "
                "(raise ingest.max_file_mb to include it)"
            )
        if reason:
            return self._skip(rel, reason, size, mtime_ns, fmt, existing)
        try:
            data = path.read_bytes()
        except PermissionError:
            return self._skip(rel, "cannot read: permission denied", size, mtime_ns, fmt, existing)
        except OSError as exc:
            return self._skip(rel, f"cannot read: {exc.strerror}", size, mtime_ns, fmt, existing)
        report.bytes_read += len(data)
        content_hash = hashlib.sha256(data).hexdigest()
        if existing and existing.status == "ok" and existing.content_hash == content_hash:
            self.store.touch(rel, size, mtime_ns)
            return None
        if existing is None and content_hash in gone_by_hash:
            old = gone_by_hash.pop(content_hash)
            self.store.rename(old, rel, size, mtime_ns)
            return FileChange(rel, "renamed", f"from {old}")
        chats = self._chats(rel, data, content_hash, size, mtime_ns, existing)
        if chats is not _NOT_A_CHAT:
            return chats
        if fmt == "chat export":
            return self._skip(rel, unsupported_reason(path), size, mtime_ns, None, existing)
        return self._extract(rel, fmt or "text", data, content_hash, size, mtime_ns, existing)

    def _chats(
        self,
        rel: str,
        data: bytes,
        content_hash: str,
        size: int,
        mtime_ns: int,
        existing: DocumentRow | None,
    ) -> FileChange | object | None:
        """Store a chat export's new messages; `_NOT_A_CHAT` when the file is not one.

        Chats are read and stored one at a time inside a savepoint; an export refused once
        all of it is seen ("no messages from you") or failing half way is undone and skipped."""
        seen = ExportSeen()
        export = None
        try:
            export = read_chats(
                self.writing / rel, data, self.store.newest_message, self.store.chat_holding
            )
            if export is None:
                return _NOT_A_CHAT
            with self.store.savepoint():
                chats, added = self.store.replace_chat_document(
                    path=rel, fmt=export.format, size=size, mtime_ns=mtime_ns,
                    content_hash=content_hash, parts=map(seen.part(self._chat_part), export.chats),
                )  # fmt: skip
                reason = refusal(self.store, self.config, export, seen)
                if reason:
                    raise SkipFile(reason)
                if export.owner:
                    hint = json.dumps(export.owner, ensure_ascii=False)
                    self.store.set_meta("identity_hint", hint)
        except SkipFile as exc:
            fmt = export.format if export is not None and seen.chats else "chat export"
            return self._skip(rel, exc.reason, size, mtime_ns, fmt, existing)
        except Exception as exc:  # a damaged export must never stop the pass
            reason = f"could not read this chat export ({exc.__class__.__name__}: {exc})"[:300]
            return self._skip(rel, reason, size, mtime_ns, "chat export", existing)
        detail = f"{chats} chat{'s' if chats != 1 else ''}, {added} new messages"
        detail += "".join(f"; {note}" for note in seen.notes)
        return FileChange(rel, "updated" if existing else "added", detail)

    def _chat_part(self, chat) -> ChatPart:
        return chat_part(self.store, self.config, self.tokenizer, chat)

    def _stat_reason(self, path: Path, info: os.stat_result) -> str | None:
        if stat.S_ISLNK(info.st_mode):
            target = path.resolve()
            if not target.is_relative_to(self.writing.resolve()):
                return "symlink points outside the writing folder"
            if target.is_dir():
                return "symlinked folder, not followed"
            if not target.exists():
                return "broken symlink"
            return None
        if not stat.S_ISREG(info.st_mode):
            return "not a regular file"
        if info.st_size == 0:
            return "empty file"
        return None

    def _skip(
        self,
        rel: str,
        reason: str,
        size: int,
        mtime_ns: int,
        fmt: str | None,
        existing: DocumentRow | None,
    ) -> FileChange | None:
        self.store.record_skip(rel, reason, size, mtime_ns, fmt)
        if existing and existing.status == "skipped" and existing.reason == reason:
            return None
        return FileChange(rel, "skipped", reason)

    def _extract(
        self,
        rel: str,
        fmt: str,
        data: bytes,
        content_hash: str,
        size: int,
        mtime_ns: int,
        existing: DocumentRow | None,
    ) -> FileChange | _Prepared | None:
        settings = self.config.ingest
        try:
            text = normalize_text(extract(self.writing / rel, data, self.options))
        except SkipFile as exc:
            return self._skip(rel, exc.reason, size, mtime_ns, fmt, existing)
        except Exception as exc:  # a damaged file must never stop the pass
            reason = f"could not read this {fmt} file ({exc.__class__.__name__}: {exc})"[:300]
            return self._skip(rel, reason, size, mtime_ns, fmt, existing)
        if settings.scrub_pii:
            text, _ = scrub(text, settings.scrub)
        if not text.strip():
            return self._skip(rel, "no text after extraction", size, mtime_ns, fmt, existing)
        return _Prepared(
            rel, fmt, content_hash, size, mtime_ns, existing, len(text), paragraphs_of(text)
        )

    def _store(
        self, item: _Prepared, paragraph_ids: list[list[int]], report: IngestReport
    ) -> FileChange | None:
        settings = self.config.ingest
        pieces = chunk_paragraphs(
            item.paragraphs,
            paragraph_ids,
            self.tokenizer,
            settings.chunk_tokens,
            settings.min_chunk_tokens,
        )
        if not pieces:
            reason = f"too short (under {settings.min_chunk_tokens} tokens)"
            return self._skip(item.rel, reason, item.size, item.mtime_ns, item.fmt, item.existing)
        chunks = []
        for piece in pieces:
            chunk_hash = hashlib.sha256(piece.text.encode()).hexdigest()
            known = self.store.known_chunk(chunk_hash)
            sig = known[1] if known else dedupe.signature(piece.ids)
            chunks.append(
                NewChunk(piece.text, piece.tokens, chunk_hash, dedupe.exact_key(piece.text), sig)
            )
        existing = item.existing
        split_key = existing.split_key if existing and existing.split_key else item.content_hash
        duplicates = self.store.replace_document(
            path=item.rel,
            fmt=item.fmt,
            size=item.size,
            mtime_ns=item.mtime_ns,
            content_hash=item.content_hash,
            split_key=split_key,
            chars=item.chars,
            chunks=chunks,
        )
        report.duplicates += duplicates
        tokens = sum(chunk.tokens for chunk in chunks)
        detail = f"{len(chunks)} chunks, {tokens} tokens"
        if duplicates:
            detail += f", {duplicates} duplicate"
        return FileChange(item.rel, "updated" if existing else "added", detail)


_NOT_A_CHAT = object()


@dataclass(frozen=True)
class _Prepared:
    """A file's text split into paragraphs, waiting for its group's tokenizer call."""

    rel: str
    fmt: str
    content_hash: str
    size: int
    mtime_ns: int
    existing: DocumentRow | None
    chars: int
    paragraphs: list[str]
