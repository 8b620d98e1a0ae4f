"""The course's data packs: install them from their public origins, pinned and verified.

A fresh clone has no data packs. ``lessons data get course`` (or :func:`get_packs`) installs
them into the per-user data folder (:func:`~lessons_lib.data.sources.user_data_dir`), where
:func:`~lessons_lib.data.sources.data_dirs` finds them, so ``open_source("scenes8")`` works.

Where each pack comes from is pinned in ``origins.json.gz`` (made by ``tools/make_origins.py``
from the maintainers' origins file): a public GitHub repository, a commit, and for every
image its member name in the zip, its path in the repository, its git blob SHA-1 and its
size. Each file is downloaded from ``https://raw.githubusercontent.com/OWNER/REPO/COMMIT/PATH``
(several at once), checked (size and git blob SHA-1: ``sha1(b"blob <size>\\0" + bytes)``),
kept in ``<dest>/.partial/<pack>/`` (an interrupted run resumes with the files already
verified; a partly downloaded file never counts), and the zip is put together byte for byte
to the pack's conventions (members in order, date 2026-01-01, deflate level 9, DATASET.json
last). The result must have the pinned sha256, or it is refused; only then is it renamed to
``<dest>/<pack>.zip`` (a half-written zip never carries a pack's name).

* ``imagenet1k`` is re-encoded (short side 160 px, JPEG quality 90): its bytes depend on the
  Pillow version, so its sources are verified, not its sha256; a sidecar
  ``imagenet1k.zip.sources.json`` records that the zip was built from verified sources.
* ``cifar10`` comes from torchvision's official download (``CIFAR10(root, download=True)``,
  into ``<dest>/cifar10/``), or from a copy of the shared ``cifar10.zip`` (a JPEG
  re-encoding, checked by its sha256).

``source`` (``--from``) may instead name a folder or a URL: a mirror laid out like the raw
host (``FOLDER/OWNER/REPO/COMMIT/PATH``, every file verified the same way), or a folder of
finished packs (``FOLDER/<pack>.zip``, checked by its pinned sha256; for cifar10 also
torchvision's ``cifar-10-python.tar.gz``, checked by its md5) - a USB stick, a shared drive
or the instructor's ``python -m http.server``.

Deflate output depends on zlib: the pins were made with zlib 1.2/1.3 (CPython's usual
build). A Python linked against another deflate implementation (zlib-ng) makes different,
equally valid, zips; the sha256 check then refuses them and the message says so.
"""
from __future__ import annotations

import gzip
import hashlib
import http.client
import io
import json
import os
import shutil
import socket
import sys
import tarfile
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
import zipfile
import zlib
from concurrent.futures import ThreadPoolExecutor, as_completed
from contextlib import redirect_stderr
from pathlib import Path
from typing import Any, BinaryIO, Callable, Iterable, Sequence

from .. import LessonsError
from .sources import SourceInfo, data_dirs, has_torchvision_files, torchvision_roots, user_data_dir

__all__ = [
    "PACK_NAMES",
    "COURSE_PACKS",
    "GITHUB_RAW",
    "pack_names",
    "pack_bytes",
    "describe",
    "installed_pack",
    "get_command",
    "get_packs",
    "load_origins",
    "add_pack_rows",
]

PACK_NAMES = ("scenes8", "flowers5", "imagenet1k", "celeba10k", "cbsd68", "cifar10")
#: the packs the lessons read (``lessons data get course``)
COURSE_PACKS = ("scenes8", "imagenet1k", "celeba10k", "cifar10")
#: where the packs' files are downloaded from by default: ``GITHUB_RAW/OWNER/REPO/COMMIT/PATH``
GITHUB_RAW = "https://raw.githubusercontent.com"
ORIGINS_FILE = Path(__file__).with_name("origins.json.gz")
SIDECAR = ".sources.json"  # <pack>.zip.sources.json: a re-encoded pack built from verified sources
_TIMEOUT = 60.0            # seconds without a byte before a download counts as failed
_CHUNK = 1 << 16

_ORIGINS: dict[str, Any] | None = None  # loaded on first use (tests may put their own here)


# --------------------------------------------------------------------------- the origins
def load_origins(path: str | os.PathLike | None = None) -> dict[str, Any]:
    """The pinned origins, in the maintainers' format ``gan-lessons-origins/1``.

    ``{"format", "zip": {member_date_time, compression, compresslevel, order}, "packs":
    {name: {repository, commit, pack_sha256, pack_bytes, meta, files: [[member, path in the
    repository, git blob sha1, size], ...], levels: {member: deflate level} (the members
    deflated at another level than the pack's), transform (imagenet1k)}, "cifar10": {...}}``.
    ``path`` defaults to the package's ``origins.json.gz`` (a compact form of the same facts:
    the repository paths are given by a rule on the member names, the hashes as one string).
    """
    where = Path(path) if path is not None else ORIGINS_FILE
    try:
        compact = json.loads(gzip.decompress(where.read_bytes()))
    except (OSError, ValueError, EOFError) as e:
        raise LessonsError(f"the packs' origins file {where} is missing or damaged ({e}); "
                           "reinstall the kit (pip install -e .)") from e
    packs = {}
    for name, spec in compact["packs"].items():
        spec = dict(spec)
        if "members" in spec:
            members, sizes, blobs = spec.pop("members"), spec.pop("sizes"), spec.pop("blobs")
            rule, odd = spec.pop("path_rule"), spec.pop("paths", {})
            spec["files"] = [[m, odd.get(m) or _path_from_rule(rule, m), blobs[40 * k:40 * k + 40], sizes[k]]
                             for k, m in enumerate(members)]
        packs[name] = spec
    return {"format": compact["format"], "zip": compact["zip"], "packs": packs}


def _path_from_rule(rule: str, member: str) -> str:
    """A repository path from a member name: ``{name}`` its file name, ``{stem}`` that without
    the extension, ``{cls}`` the folder it sits in (``val/airport/x.jpg``: airport)."""
    parts = member.split("/")
    name = parts[-1]
    return rule.format(name=name, stem=name.rsplit(".", 1)[0], cls=parts[-2] if len(parts) > 1 else "")


def _origins() -> dict[str, Any]:
    global _ORIGINS
    if _ORIGINS is None:
        _ORIGINS = load_origins()
    return _ORIGINS


def _spec(name: str) -> dict[str, Any]:
    return _origins()["packs"][name]


def pack_names(names: str | Iterable[str]) -> list[str]:
    """Pack names with ``course`` and ``all`` expanded, in order, without repeats.

    Raises:
        LessonsError: an unknown name (the message lists the known ones).
    """
    known = list(_origins()["packs"])
    groups = {"course": COURSE_PACKS, "all": tuple(PACK_NAMES) + tuple(n for n in known if n not in PACK_NAMES)}
    out: list[str] = []
    for raw in [names] if isinstance(names, str) else names:
        key = str(raw).strip().lower()
        if key not in groups and key not in known:
            raise LessonsError(f"unknown data pack {raw!r}: the packs are {', '.join(known)}; "
                               f"'course' means {' '.join(COURSE_PACKS)}, 'all' every pack")
        for n in groups.get(key, (key,)):
            if n not in out:
                out.append(n)
    if not out:
        raise LessonsError(f"name at least one data pack: {', '.join(known)}, course or all")
    return out


def _one(name: str) -> str:
    names = pack_names(name)
    if len(names) != 1:
        raise LessonsError(f"{name!r} names several packs ({' '.join(names)}); give one pack name")
    return names[0]


def pack_bytes(name: str) -> int:
    """Bytes downloaded to install pack ``name`` from its origin: the sum of its files (for
    imagenet1k the originals, which it shrinks), or torchvision's archive for cifar10."""
    spec = _spec(_one(name))
    if "files" in spec:
        return sum(f[3] for f in spec["files"])
    return int(spec["archive"]["bytes"])


def _mb(n: int) -> str:
    return f"{n / 1e6:,.1f} MB"


def describe(name: str) -> str:
    """One line on pack ``name``: what it holds, where it comes from, its download size."""
    name = _one(name)
    spec = _spec(name)
    what = spec.get("meta", {}).get("what") or spec.get("torchvision", "")
    if "files" in spec:
        origin = f"{spec['repository']}@{spec['commit'][:10]}, {len(spec['files']):,} files"
    else:
        origin = f"torchvision's official CIFAR-10 download ({spec['archive']['name']})"
    return f"{name}: {what} (from {origin}; {_mb(pack_bytes(name))} to download)"


def get_command(names: str | Iterable[str]) -> str:
    """The one command that installs these packs: ``lessons data get scenes8 celeba10k``."""
    todo = pack_names(names)
    if set(todo) == set(COURSE_PACKS):
        return "lessons data get course"
    return "lessons data get " + " ".join(todo)


# --------------------------------------------------------------------------- what is installed
def _file_digest(path: Path, algo: str = "sha256") -> str:
    h = hashlib.new(algo)
    with open(path, "rb") as fh:
        while chunk := fh.read(1 << 20):
            h.update(chunk)
    return h.hexdigest()


def _zip_verified(name: str, path: Path) -> bool:
    """Whether ``path`` is pack ``name`` as pinned: its sha256, or (a re-encoded pack) a sidecar
    that says it was built from verified sources and names this file's sha256."""
    if not path.is_file():
        return False
    digest = _file_digest(path)
    if digest == _spec(name)["pack_sha256"]:
        return True
    if "transform" in _spec(name):
        try:
            record = json.loads(Path(str(path) + SIDECAR).read_text())
        except (OSError, ValueError):
            return False
        return record.get("sha256") == digest and record.get("commit") == _spec(name)["commit"]
    return False


def installed_pack(name: str) -> Path | None:
    """Where pack ``name`` is usable from now, or None: ``<name>.zip`` in a folder of
    :func:`data_dirs`; for cifar10 also torchvision's files (``<data dir>/cifar10/`` or
    ``~/.cache/gan-lessons/cifar10``). Only presence is checked, not the bytes."""
    name = _one(name)
    for d in data_dirs():
        if (d / f"{name}.zip").is_file():
            return d / f"{name}.zip"
    if name == "cifar10":
        for root in torchvision_roots("cifar10"):
            if has_torchvision_files("cifar10", root):
                return root
    return None


def add_pack_rows(infos: Sequence[SourceInfo]) -> list[SourceInfo]:
    """``lessons data list``'s rows: ``infos`` (from ``list_sources()``) with every known pack's
    size and the command that gets it; a pack that is not installed gets a row of its own."""
    rows = list(infos)
    for name in pack_names("all"):
        where = installed_pack(name)
        tail = f"[{_mb(pack_bytes(name))}: {get_command(name)}]"
        row = next((r for r in rows if r.name == name), None)
        if row is not None and not row.available:   # cifar10's torchvision row, its files absent
            row.note = f"not installed {tail}"
        elif row is not None:   # installed (a pack row, or cifar10's torchvision files)
            row.note = f"{row.note} {tail}".strip()
        elif where is not None:  # installed, but named by its path (a name taken earlier)
            rows.append(SourceInfo(name, "pack", describe(name), True, {}, f"installed: {where} {tail}"))
        else:
            what = _spec(name).get("meta", {}).get("what", "")
            rows.append(SourceInfo(name, "pack", what, False, {}, f"not installed {tail}"))
    return rows


# --------------------------------------------------------------------------- fetching
class _Missing(Exception):
    """The origin has no such file (HTTP 404 or 410, or no such file in the folder)."""


class _Offline(Exception):
    """The host cannot be reached (no network, DNS failure, connection refused)."""

    def __init__(self, host: str, reason: str) -> None:
        super().__init__(f"{host}: {reason}")
        self.host, self.reason = host, reason


class _Transient(Exception):
    """Worth another try: a 5xx or 429 answer, a connection cut mid-file, a file too short."""


class _Stopped(Exception):
    """Another download of the same run failed: stop quietly."""


_NETWORK_ERRORS = (OSError, http.client.HTTPException)  # socket errors, resets, timeouts, cut bodies


class _Writer:
    """A binary file that hashes what is written to it and counts the bytes."""

    def __init__(self, fh: BinaryIO, digest: Any, on_bytes: Callable[[int], None] | None = None) -> None:
        self.fh, self.digest, self.n, self.on_bytes = fh, digest, 0, on_bytes

    def write(self, chunk: bytes) -> None:
        self.fh.write(chunk)
        self.digest.update(chunk)
        self.n += len(chunk)
        if self.on_bytes is not None:
            self.on_bytes(len(chunk))


class _Origin:
    """Where files come from: a URL (kept-alive connections, one per thread and host) or a folder.

    ``copy(rel, out)`` writes the file at ``rel`` (a ``/``-separated path below the base)
    into ``out``; it raises :class:`_Missing` when there is no such file, and an
    ``OSError`` / ``HTTPException`` / :class:`_Transient` for trouble worth a retry.
    """

    def __init__(self, source: str | os.PathLike | None) -> None:
        text = GITHUB_RAW if source is None else os.fspath(source).strip()
        self.default = source is None
        self.is_url = "://" in text
        if self.is_url:
            parts = urllib.parse.urlsplit(text)
            if parts.scheme not in ("http", "https") or not parts.netloc:
                raise LessonsError(f"--from {text!r}: give a folder, or an http:// or https:// URL")
            self.base = text.rstrip("/")
            self.host = parts.hostname or parts.netloc
        else:
            folder = Path(text).expanduser()
            if not folder.is_dir():
                raise LessonsError(f"--from {text!r}: no such folder; give a folder holding the packs "
                                   "(<pack>.zip) or a mirror of the raw host (OWNER/REPO/COMMIT/PATH), or a URL")
            self.base = str(folder.resolve())
            self.host = self.base
        self._local = threading.local()
        self._conns: list[http.client.HTTPConnection] = []
        self._lock = threading.Lock()

    def where(self, rel: str) -> str:
        if self.is_url:
            return f"{self.base}/{urllib.parse.quote(rel)}"
        return str(Path(self.base, *rel.split("/")))

    def has(self, rel: str) -> bool:
        """Folders only: whether the file or folder ``rel`` exists."""
        return not self.is_url and Path(self.where(rel)).exists()

    def copy(self, rel: str, out: _Writer) -> None:
        if not self.is_url:
            try:
                with open(self.where(rel), "rb") as fh:
                    while chunk := fh.read(_CHUNK):
                        out.write(chunk)
            except (FileNotFoundError, NotADirectoryError, IsADirectoryError) as e:
                raise _Missing(self.where(rel)) from e
            except OSError as e:
                raise LessonsError(f"cannot read {self.where(rel)}: {e}") from e
            return
        url = self.where(rel)
        for _ in range(6):  # the URL, then at most 5 redirects
            status, headers, body = self._get(url)
            if status in (301, 302, 303, 307, 308) and headers.get("Location"):
                body.close()
                url = urllib.parse.urljoin(url, headers["Location"])
                continue
            try:
                if status in (404, 410):
                    raise _Missing(url)
                if status == 429 or status >= 500:
                    raise _Transient(f"{url} answered HTTP {status}")
                if status != 200:
                    hint = "" if self.default else "; check the URL given to --from"
                    raise LessonsError(f"{url} answered HTTP {status}{hint}")
                while chunk := body.read(_CHUNK):
                    out.write(chunk)
                expected = headers.get("Content-Length")
                if expected is not None and expected.isdigit() and out.n < int(expected):
                    body.forget()
                    raise _Transient(f"{url}: the connection closed after {out.n} of {expected} bytes")
            finally:
                body.close()
            return
        raise LessonsError(f"{self.where(rel)}: too many redirects")

    # -- HTTP
    def _get(self, url: str) -> tuple[int, Any, Any]:
        """GET ``url``: (status, headers, a body with read() and close())."""
        parts = urllib.parse.urlsplit(url)
        proxies = urllib.request.getproxies()
        if parts.scheme in proxies and not urllib.request.proxy_bypass(parts.hostname or ""):
            return self._get_via_urllib(url)  # a proxy: let urllib speak to it
        key = (parts.scheme, parts.netloc)
        conns = self._local.__dict__.setdefault("conns", {})
        target = urllib.parse.urlunsplit(("", "", parts.path or "/", parts.query, ""))
        for attempt in (0, 1):
            conn = conns.get(key)
            if conn is None:
                cls = http.client.HTTPSConnection if parts.scheme == "https" else http.client.HTTPConnection
                conn = conns[key] = cls(parts.netloc, timeout=_TIMEOUT)
                with self._lock:
                    self._conns.append(conn)
            try:
                conn.request("GET", target, headers={"User-Agent": "gan-lessons", "Accept-Encoding": "identity"})
                resp = conn.getresponse()
            except (http.client.RemoteDisconnected, BrokenPipeError, ConnectionResetError):
                conns.pop(key, None)
                conn.close()
                if attempt == 0:  # a kept-alive connection the server had closed: open a new one
                    continue
                raise
            except BaseException:
                conns.pop(key, None)
                conn.close()
                raise
            return resp.status, resp.headers, _Body(resp, lambda: _forget(conns, key, conn))
        raise AssertionError("unreachable")

    def _get_via_urllib(self, url: str) -> tuple[int, Any, Any]:
        req = urllib.request.Request(url, headers={"User-Agent": "gan-lessons"})
        try:
            resp = urllib.request.urlopen(req, timeout=_TIMEOUT)  # noqa: S310 - http(s) only, checked above
        except urllib.error.HTTPError as e:
            return e.code, e.headers, _Body(e, lambda: None)
        except urllib.error.URLError as e:
            reason = e.reason if isinstance(e.reason, OSError) else OSError(str(e.reason))
            raise reason from e
        return resp.status, resp.headers, _Body(resp, lambda: None)

    def close(self) -> None:
        with self._lock:
            for conn in self._conns:
                conn.close()
            self._conns.clear()


class _Body:
    """A response body; closing it before it is read to the end drops the connection."""

    def __init__(self, resp: Any, forget: Callable[[], None]) -> None:
        self.resp, self.forget = resp, forget

    def read(self, n: int) -> bytes:
        try:
            return self.resp.read(n)
        except BaseException:
            self.forget()
            raise

    def close(self) -> None:
        if not getattr(self.resp, "isclosed", lambda: True)():
            self.forget()  # not read to the end: the connection cannot serve another request
        self.resp.close()


def _forget(conns: dict, key: tuple[str, str], conn: http.client.HTTPConnection) -> None:
    if conns.get(key) is conn:
        del conns[key]
    conn.close()


def _is_offline(e: BaseException) -> bool:
    """A failure to reach the host at all (as opposed to a connection cut mid-file)."""
    if isinstance(e, (socket.gaierror, ConnectionRefusedError, TimeoutError, socket.timeout)):
        return True
    return isinstance(e, OSError) and not isinstance(e, (ConnectionResetError, BrokenPipeError)) \
        and getattr(e, "errno", None) is not None


def _with_retries(what: Callable[[], None], *, host: str, retries: int, backoff: float,
                  stop: threading.Event | None = None) -> None:
    """Run ``what``; on a network error or a :class:`_Transient` answer wait ``backoff * 2**k``
    seconds and try again, ``retries`` times. Then: :class:`_Offline` when the host could not be
    reached, else a LessonsError naming the last error."""
    for attempt in range(retries + 1):
        if stop is not None and stop.is_set():
            raise _Stopped()
        try:
            return what()
        except (_Transient, *_NETWORK_ERRORS) as e:
            if isinstance(e, LessonsError):
                raise
            last = e
        if attempt < retries:
            pause = backoff * 2 ** attempt
            if stop is not None:
                stop.wait(pause)  # wakes at once when another download of the run failed
            else:
                time.sleep(pause)
    if _is_offline(last):
        raise _Offline(host, f"{type(last).__name__}: {last}")
    raise LessonsError(f"downloading from {host} kept failing after {retries + 1} tries "
                       f"({type(last).__name__}: {last}); try again later, or use --from FOLDER_OR_URL")


# --------------------------------------------------------------------------- the installer
class _Installer:
    """One ``get_packs`` run: the destination, the origin and the options."""

    def __init__(self, dest: Path, origin: _Origin, *, jobs: int, progress: bool, retries: int,
                 backoff: float, search_installed: bool) -> None:
        self.dest, self.origin = dest, origin
        self.jobs, self.progress, self.retries, self.backoff = max(1, int(jobs)), progress, max(0, int(retries)), backoff
        self.search_installed = search_installed

    def bar(self, name: str, total: int, initial: int = 0, postfix: str | None = None):
        from tqdm import tqdm

        return tqdm(total=total, initial=initial, desc=name, unit="B", unit_scale=True, unit_divisor=1000,
                    disable=not self.progress, file=sys.stderr, dynamic_ncols=True, leave=True,
                    postfix=postfix)

    def retrying(self, what: Callable[[], None], stop: threading.Event | None = None) -> None:
        _with_retries(what, host=self.origin.host, retries=self.retries if self.origin.is_url else 0,
                      backoff=self.backoff, stop=stop)

    # -- one pack
    def get(self, name: str) -> Path:
        if name == "cifar10":
            return self.get_cifar10()
        target = self.dest / f"{name}.zip"
        if _zip_verified(name, target):
            return target
        if self.search_installed:  # already in another data folder (../shared/data): use that
            found = installed_pack(name)
            if found is not None and found != target and _zip_verified(name, found):
                return found
        spec = _spec(name)
        if not self.origin.default:
            if self.whole_file(name, f"{name}.zip", target, "sha256", spec["pack_sha256"], spec.get("pack_bytes")):
                return target
            tree = f"{spec['repository']}/{spec['commit']}"
            if not self.origin.is_url and not self.origin.has(tree):
                raise LessonsError(
                    f"{self.origin.base} holds neither {name}.zip (a folder of finished packs) nor "
                    f"{tree}/ (a mirror of the raw host: OWNER/REPO/COMMIT/PATH) - the two layouts "
                    f"--from understands; copy one of them there, or name another folder or URL")
        staging = self.dest / ".partial" / name
        try:
            self.stage(name, spec, staging)
            self.assemble(name, spec, staging, target)
            shutil.rmtree(staging, ignore_errors=True)
        finally:
            for folder in (staging, staging.parent):  # kept only while it holds verified files
                try:
                    folder.rmdir()
                except OSError:
                    pass
        return target

    def stage(self, name: str, spec: dict[str, Any], staging: Path) -> None:
        """Every file of the pack, verified, in ``staging/<git blob sha1>`` (those already there kept)."""
        staging.mkdir(parents=True, exist_ok=True)
        blobs: dict[str, tuple[str, str, int]] = {}
        for member, path, sha, size in spec["files"]:
            blobs.setdefault(sha, (member, path, size))  # the same image at two paths: fetched once
        have = {sha for sha, (_, _, size) in blobs.items()
                if (staging / sha).is_file() and (staging / sha).stat().st_size == size}
        todo = [sha for sha in blobs if sha not in have]
        n = len(blobs)
        stop = threading.Event()
        total, initial = sum(s for _, _, s in blobs.values()), sum(blobs[s][2] for s in have)
        with self.bar(name, total, initial, f"{len(have)}/{n} files") as bar, \
                ThreadPoolExecutor(self.jobs, thread_name_prefix=f"get-{name}") as pool:
            futures = {pool.submit(self.fetch_blob, name, spec, sha, *blobs[sha], staging, stop): sha for sha in todo}
            done = len(have)
            try:
                for fut in as_completed(futures):
                    fut.result()
                    done += 1
                    bar.update(blobs[futures[fut]][2])
                    bar.set_postfix_str(f"{done}/{n} files", refresh=False)
            except BaseException:
                stop.set()
                pool.shutdown(wait=True, cancel_futures=True)
                raise

    def fetch_blob(self, name: str, spec: dict[str, Any], sha: str, member: str, path: str, size: int,
                   staging: Path, stop: threading.Event) -> None:
        rel = f"{spec['repository']}/{spec['commit']}/{path}"
        part = staging / f"{sha}.{threading.get_ident()}.part"

        def attempt() -> None:
            try:
                with open(part, "wb") as fh:
                    out = _Writer(fh, hashlib.sha1(b"blob %d\0" % size))
                    self.origin.copy(rel, out)
                if out.n != size or out.digest.hexdigest() != sha:
                    raise LessonsError(
                        f"{name}: {path} (member {member}) from {self.origin.where(rel)} is not the pinned file: "
                        f"expected git blob SHA-1 {sha} ({size:,} bytes), got {out.digest.hexdigest()} "
                        f"({out.n:,} bytes). Refused and deleted; no {name}.zip was made. Try again later, "
                        f"or install from a verified copy: {get_command(name)} --from FOLDER_OR_URL")
                os.replace(part, staging / sha)
            except _Missing as e:
                raise LessonsError(
                    f"{name}: {path} (member {member}) is not at {e} (HTTP 404 or no such file): the pack's "
                    f"origin is {spec['repository']}@{spec['commit']}; if the repository was moved or "
                    f"deleted, install from a copy: {get_command(name)} --from FOLDER_OR_URL") from None
            finally:
                part.unlink(missing_ok=True)

        self.retrying(attempt, stop)

    def assemble(self, name: str, spec: dict[str, Any], staging: Path, target: Path) -> None:
        """The zip, byte for byte to the conventions, into a temporary name, then renamed."""
        conv = _origins()["zip"]
        date_time = tuple(conv["member_date_time"])
        transform = "transform" in spec
        if transform:
            compress, default_level = zipfile.ZIP_STORED, None
        else:
            compress = {"deflate": zipfile.ZIP_DEFLATED, "stored": zipfile.ZIP_STORED}[conv["compression"]]
            default_level = conv.get("compresslevel")
        levels = spec.get("levels", {})
        tmp = target.with_name(f"{target.name}.{os.getpid()}.partial")

        def staged(entry: list) -> bytes:
            member, path, sha, size = entry
            data = (staging / sha).read_bytes()
            if hashlib.sha1(b"blob %d\0" % len(data) + data).hexdigest() != sha:
                (staging / sha).unlink()
                raise LessonsError(f"{name}: the downloaded {path} changed on disk in {staging} (it no longer has "
                                   f"git blob SHA-1 {sha}); it was deleted: run the command again")
            return _reencode(data) if transform else data

        try:
            with zipfile.ZipFile(tmp, "w") as zf, ThreadPoolExecutor(self.jobs) as pool:
                # re-encoding runs on every core (Pillow lets go of the GIL); copies one by one
                datas = pool.map(staged, spec["files"]) if transform else map(staged, spec["files"])
                for entry, data in zip(spec["files"], datas):
                    member = entry[0]
                    _write_member(zf, member, data, date_time, compress, levels.get(member, default_level))
                meta = json.dumps(spec["meta"], indent=2).encode("utf-8")
                _write_member(zf, "DATASET.json", meta, date_time, compress, default_level)
            digest = _file_digest(tmp)
            if transform:
                # Pillow's JPEG bytes vary by version: record that the sources were verified.
                if digest != spec["pack_sha256"]:
                    record = {"pack": name, "sha256": digest, "repository": spec["repository"],
                              "commit": spec["commit"], "files": len(spec["files"]),
                              "built_from": "verified sources (git blob SHA-1 of every file)",
                              "transform": spec["transform"], "pillow": _pillow_version()}
                    side = Path(str(target) + SIDECAR)
                    side_tmp = side.with_name(side.name + ".partial")
                    side_tmp.write_text(json.dumps(record, indent=2) + "\n")
                    os.replace(side_tmp, side)
            elif digest != spec["pack_sha256"]:
                raise LessonsError(
                    f"{name}: the zip built from the verified files has sha256 {digest}, not the pinned "
                    f"{spec['pack_sha256']}; refused (no {name}.zip was made). Every file matched its git "
                    f"blob SHA-1, so the difference is in the compression: this Python's zlib "
                    f"({zlib.ZLIB_RUNTIME_VERSION}) deflates differently from the one the pin was made "
                    f"with. Install from a copy of the finished pack instead: {get_command(name)} --from FOLDER_OR_URL")
            os.replace(tmp, target)
        finally:
            tmp.unlink(missing_ok=True)

    def whole_file(self, name: str, rel: str, target: Path, algo: str, expected: str, size: int | None) -> bool:
        """Copy ``rel`` of a folder or mirror to ``target`` when it has the expected hash: False
        when the origin has no such file; a LessonsError when it is there but differs."""
        if not self.origin.is_url and not self.origin.has(rel):
            return False
        tmp = target.with_name(f"{target.name}.{os.getpid()}.partial")
        target.parent.mkdir(parents=True, exist_ok=True)
        bars: list = []  # made on the first byte: a probe that finds nothing shows no bar

        def tick(n: int) -> None:
            if not bars:
                bars.append(self.bar(name, size or 0))
            bars[0].update(n)

        def attempt() -> None:
            if bars:
                bars[0].reset(total=size or 0)
            with open(tmp, "wb") as fh:
                out = _Writer(fh, hashlib.new(algo), tick)
                self.origin.copy(rel, out)
            got = out.digest.hexdigest()
            if got != expected:
                raise LessonsError(
                    f"{name}: {self.origin.where(rel)} is not the pinned {rel}: expected {algo} {expected}, "
                    f"got {got} ({out.n:,} bytes); refused (nothing was installed). Replace that copy "
                    f"with a good one, or download from the origin: {get_command(name)} (without --from)")

        try:
            self.retrying(attempt)
            os.replace(tmp, target)
            return True
        except _Missing:
            return False
        finally:
            for bar in bars:
                bar.close()
            tmp.unlink(missing_ok=True)

    # -- cifar10
    def get_cifar10(self) -> Path:
        spec = _spec("cifar10")
        target, root = self.dest / "cifar10.zip", self.dest / "cifar10"
        if has_torchvision_files("cifar10", root):
            return root
        if _zip_verified("cifar10", target):
            return target
        if self.search_installed:
            found = installed_pack("cifar10")
            if found is not None and (found.is_dir() or _zip_verified("cifar10", found)):
                return found
        archive = spec["archive"]
        if self.origin.default:
            return self.cifar10_from_torchvision(root)
        if self.whole_file("cifar10", "cifar10.zip", target, "sha256", spec["pack_sha256"], spec.get("pack_bytes")):
            return target
        tarball = root / archive["name"]
        if self.whole_file("cifar10", archive["name"], tarball, "md5", archive["md5"], archive["bytes"]):
            _extract(tarball, root)
            tarball.unlink()
            return root
        raise LessonsError(
            f"{self.origin.base} holds neither cifar10.zip (the shared pack) nor {archive['name']} "
            f"(torchvision's official archive) - the two layouts --from understands for cifar10; copy one "
            f"there, or run `lessons data get cifar10` without --from (torchvision downloads it)")

    def cifar10_from_torchvision(self, root: Path) -> Path:
        try:
            from torchvision.datasets import CIFAR10
        except ImportError as e:
            raise LessonsError(f"cifar10 comes from torchvision, which cannot be imported ({e}); "
                               "pip install torchvision") from e
        root.mkdir(parents=True, exist_ok=True)
        url = _spec("cifar10")["archive"]["url"]
        try:
            with redirect_stderr(sys.stderr if self.progress else io.StringIO()):
                CIFAR10(str(root), train=True, download=True)
        except urllib.error.URLError as e:
            reason = e.reason if isinstance(e.reason, BaseException) else OSError(str(e.reason))
            raise _Offline(urllib.parse.urlsplit(url).hostname or url, f"{type(reason).__name__}: {reason}") from e
        except (OSError, RuntimeError) as e:
            if _is_offline(e):
                raise _Offline(urllib.parse.urlsplit(url).hostname or url, f"{type(e).__name__}: {e}") from e
            raise LessonsError(f"cifar10: torchvision's download into {root} failed ({type(e).__name__}: {e}); "
                               "run the command again, or use --from FOLDER_OR_URL") from e
        (root / _spec("cifar10")["archive"]["name"]).unlink(missing_ok=True)  # the unpacked batches are enough
        return root


def _write_member(zf: zipfile.ZipFile, member: str, data: bytes, date_time: tuple, compress: int,
                  level: int | None) -> None:
    info = zipfile.ZipInfo(member, date_time)
    info.compress_type = compress
    info.external_attr = 0o600 << 16  # -rw------- (what the shared packs carry)
    info.create_system = 3            # Unix
    zf.writestr(info, data, compresslevel=level)


def _reencode(data: bytes) -> bytes:
    """imagenet1k's transform: RGB; short side over 160 px resized (Lanczos) to 160 px, the other
    side rounded; JPEG quality 90, optimized."""
    from PIL import Image

    with Image.open(io.BytesIO(data)) as img:
        rgb = img.convert("RGB")
    w, h = rgb.size
    short = min(w, h)
    if short > 160:
        scale = 160 / short
        size = (160 if w == short else max(1, round(w * scale)), 160 if h == short else max(1, round(h * scale)))
        rgb = rgb.resize(size, Image.Resampling.LANCZOS)
    out = io.BytesIO()
    rgb.save(out, "JPEG", quality=90, optimize=True)
    return out.getvalue()


def _pillow_version() -> str:
    import PIL

    return PIL.__version__


def _extract(tarball: Path, root: Path) -> None:
    """Unpack torchvision's CIFAR-10 archive into ``root`` (only plain files, inside ``root``)."""
    try:
        with tarfile.open(tarball, "r:gz") as tf:
            if hasattr(tarfile, "data_filter"):
                tf.extractall(root, filter="data")
            else:  # Python without extraction filters: refuse members that would land outside root
                for m in tf.getmembers():
                    if not (m.isfile() or m.isdir()) or m.name.startswith("/") or ".." in m.name.split("/"):
                        raise LessonsError(f"{tarball}: unexpected member {m.name!r}; refused")
                tf.extractall(root)  # noqa: S202 - members checked above
    except (tarfile.TarError, OSError, EOFError) as e:
        raise LessonsError(f"cannot unpack {tarball} ({e}); delete it and run the command again") from e
    if not has_torchvision_files("cifar10", root):
        raise LessonsError(f"{tarball} did not hold CIFAR-10's python batches; is it cifar-10-python.tar.gz?")


def _default_dest() -> Path:
    env = os.environ.get("LESSONS_DATA", "").strip()
    first = next((p for p in env.split(os.pathsep) if p.strip()), "") if env else ""
    return Path(first).expanduser() if first else user_data_dir()


def get_packs(names: str | Iterable[str], *, dest: str | os.PathLike | None = None,
              source: str | os.PathLike | None = None, jobs: int = 8, progress: bool = True,
              retries: int = 4, backoff: float = 0.5) -> list[Path]:
    """Install data packs (``"course"``, ``"all"`` or pack names); return where each one is.

    Args:
        names: pack names, ``course`` (:data:`COURSE_PACKS`) or ``all``.
        dest: the folder to install into (default: ``LESSONS_DATA``'s first folder when set,
            else :func:`user_data_dir`). A pack already there and verified is not fetched
            again; with the default ``dest``, neither is one found verified in another folder
            of :func:`data_dirs` (``../shared/data``).
        source: where to fetch from (``--from``): None for the packs' public origins; a URL
            of a mirror laid out like the raw host; a folder holding ``<pack>.zip`` files
            (checked by sha256) or laid out like the raw host (every file verified).
        jobs: files downloaded at once.
        progress: a progress bar per pack on stderr (bytes, rate, files done).
        retries, backoff: a download that fails (connection error, 5xx, a cut) is tried again
            ``retries`` times, after ``backoff * 2**k`` seconds.

    Returns:
        For each pack in order, the installed ``<dest>/<pack>.zip`` (for cifar10 possibly
        torchvision's folder ``<dest>/cifar10``), or the verified copy found elsewhere.

    Raises:
        LessonsError: an unknown name; no connection (the message says how much is needed
            and the alternatives); a file or zip whose hash is wrong (refused: both hashes
            are named); a file missing at the origin; a folder without the expected layout.
    """
    todo = pack_names(names)
    origin = _Origin(source)
    folder = Path(dest).expanduser() if dest is not None else _default_dest()
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise LessonsError(f"cannot create the data folder {folder} ({e}); choose another with --dir") from e
    inst = _Installer(folder, origin, jobs=jobs, progress=progress, retries=retries, backoff=backoff,
                      search_installed=dest is None)
    done: list[Path] = []
    try:
        for k, name in enumerate(todo):
            try:
                done.append(inst.get(name))
            except _Offline as e:
                left = todo[k:]
                mb = _mb(sum(pack_bytes(n) for n in left))
                raise LessonsError(
                    f"cannot reach {e.host} ({e.reason}) to download {' '.join(left)} ({mb} needed). "
                    f"Without a connection: copy the packs from a USB stick, a shared drive or a local mirror "
                    f"and run `{get_command(left)} --from FOLDER_OR_URL` (a folder of <pack>.zip files, or a "
                    f"mirror laid out like {GITHUB_RAW}); or run the lessons without the packs: they fall "
                    f"back to the photos bundled with scikit-image and matplotlib") from None
    finally:
        origin.close()
    return done
