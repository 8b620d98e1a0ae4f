"""`lessons data get` (lessons_lib.data.packs): install data packs from pinned origins, verified.

No internet: a local HTTP server (127.0.0.1, port 0) serves a small origin laid out like the
raw host (OWNER/REPO/COMMIT/PATH) that each test makes, for a fake pack ``toy`` injected into
the package's origins. Only when ../shared/data is on this machine, the real packs' files
are served from the shared zips and rebuilt byte for byte.
"""
from __future__ import annotations

import hashlib
import io
import json
import os
import socket
import tarfile
import threading
import urllib.parse
import zipfile
from collections import Counter
from contextlib import contextmanager
from functools import partial
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from PIL import Image

from lessons_lib import LessonsError
from lessons_lib.cli import main
from lessons_lib.data import list_sources, open_source
from lessons_lib.data import packs
from lessons_lib.data.sources import data_dirs, user_data_dir

SHARED = Path(__file__).resolve().parents[2] / "shared" / "data"
REPO, COMMIT = "test-owner/toy-repo", "0123456789abcdef0123456789abcdef01234567"
DATE = (2026, 1, 1, 0, 0, 0)


# --------------------------------------------------------------------------- helpers
def _blob(data: bytes) -> str:
    return hashlib.sha1(b"blob %d\0" % len(data) + data).hexdigest()


def _sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _image(seed: int, fmt: str, size=(24, 16)) -> bytes:
    img = Image.new("RGB", size, (40 * seed % 256, 90, 255 - 30 * seed % 256))
    img.putpixel((seed % size[0], 0), (255, 255, 255))
    buf = io.BytesIO()
    img.save(buf, fmt)
    return buf.getvalue()


def _expected_zip(files: list[tuple[str, bytes]], meta: dict, levels: dict | None = None,
                  stored: bool = False) -> bytes:
    """The pack zip as the conventions describe it, written here independently of the package."""
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        for member, data in [*files, ("DATASET.json", json.dumps(meta, indent=2).encode())]:
            info = zipfile.ZipInfo(member, DATE)
            info.compress_type = zipfile.ZIP_STORED if stored else zipfile.ZIP_DEFLATED
            info.external_attr, info.create_system = 0o600 << 16, 3
            zf.writestr(info, data, compresslevel=None if stored else (levels or {}).get(member, 9))
    return buf.getvalue()


# member, path in the repository, content. One path has an apostrophe and a space (URL-quoted);
# two members share one blob (fetched once).
def _toy_files() -> list[tuple[str, str, bytes]]:
    return [
        ("train/red/a.png", "imgs/red/a.png", _image(1, "PNG")),
        ("train/red/b.jpg", "imgs/red/b.jpg", _image(2, "JPEG")),
        ("train/blue/c d's.png", "imgs/blue/c d's.png", _image(3, "PNG")),
        ("val/red/e.png", "imgs/red/e.png", _image(4, "PNG")),
        ("val/blue/f.png", "imgs/blue/f_copy.png", _image(1, "PNG")),
    ]


class Origin:
    """A toy pack: its files in a raw-host tree under ``root``, and its origins entry."""

    def __init__(self, root: Path, name: str = "toy", files=None, transform: bool = False) -> None:
        self.name, self.root = name, root
        self.files = files if files is not None else _toy_files()
        self.meta = {"name": name, "what": f"{len(self.files)} tiny test images", "split": "train/val"}
        self.levels = {} if transform else {self.files[1][0]: 6}
        for _, path, data in self.files:
            self.write(path, data)
        zipped = _expected_zip([(m, d) for m, _, d in self.files], self.meta, self.levels)
        self.spec = {
            "repository": REPO, "commit": COMMIT, "pack_sha256": _sha256(zipped), "pack_bytes": len(zipped),
            "meta": self.meta, "files": [[m, p, _blob(d), len(d)] for m, p, d in self.files],
        }
        if transform:
            self.spec["transform"] = "RGB; short side 160; JPEG q90; stored"
            self.spec["pack_sha256"] = "0" * 64  # Pillow-dependent: the sources are verified instead
        else:
            self.spec["levels"] = self.levels
        self.zip_bytes = zipped

    def write(self, path: str, data: bytes) -> Path:
        target = self.root / REPO / COMMIT / path
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(data)
        return target

    def url_path(self, path: str) -> str:
        return "/" + urllib.parse.quote(f"{REPO}/{COMMIT}/{path}")


class Server:
    """A ThreadingHTTPServer (HTTP/1.1, keep-alive) on 127.0.0.1 serving ``root``; counts the
    requests per path; can cut a file's first answer mid-body, or answer 503 once."""

    def __init__(self, root: Path, lookup=None) -> None:
        self.requests: Counter[str] = Counter()
        self.cut: set[str] = set()
        self.busy: set[str] = set()
        self.lock = threading.Lock()
        server = self

        class Handler(SimpleHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args) -> None:
                pass

            def do_GET(self) -> None:
                if self.path.startswith("http://"):  # asked as a proxy: serve it all the same
                    self.path = urllib.parse.urlsplit(self.path).path
                path = self.path.split("?", 1)[0]
                with server.lock:
                    server.requests[path] += 1
                    first = server.requests[path] == 1
                if first and path in server.busy:
                    self.send_response(503)
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                    return
                if first and path in server.cut:
                    data = Path(self.translate_path(self.path)).read_bytes()
                    self.send_response(200)
                    self.send_header("Content-Length", str(len(data)))
                    self.end_headers()
                    self.wfile.write(data[: len(data) // 2])
                    self.wfile.flush()
                    self.close_connection = True
                    self.connection.shutdown(socket.SHUT_RDWR)
                    return
                if lookup is not None:
                    data = lookup(urllib.parse.unquote(path))
                    if data is None:
                        self.send_error(404)
                        return
                    self.send_response(200)
                    self.send_header("Content-Length", str(len(data)))
                    self.end_headers()
                    self.wfile.write(data)
                    return
                super().do_GET()

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), partial(Handler, directory=str(root)))
        self.httpd.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        self.thread = threading.Thread(target=self.httpd.serve_forever, args=(0.05,), daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


@contextmanager
def _serving(root: Path, lookup=None):
    server = Server(root, lookup)
    try:
        yield server
    finally:
        server.close()


@pytest.fixture
def data(tmp_path, monkeypatch) -> Path:
    """LESSONS_DATA: an empty folder in tmp (nothing is written to the user's home)."""
    folder = tmp_path / "data"
    folder.mkdir()
    monkeypatch.setenv("LESSONS_DATA", str(folder))
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    monkeypatch.delenv("XDG_DATA_HOME", raising=False)
    return folder


def _inject(monkeypatch, *origins: Origin) -> None:
    real = packs.load_origins()
    table = {**real["packs"], **{o.name: o.spec for o in origins}}
    monkeypatch.setattr(packs, "_ORIGINS", {**real, "packs": table})


@pytest.fixture
def toy(tmp_path, monkeypatch) -> Origin:
    origin = Origin(tmp_path / "origin")
    _inject(monkeypatch, origin)
    return origin


@pytest.fixture
def server(toy):
    with _serving(toy.root) as s:
        yield s


def _leftovers(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir() if p.name.endswith(".partial") or p.name == ".partial")


# --------------------------------------------------------------------------- names and sizes
def test_names_sizes_and_commands():
    assert packs.PACK_NAMES == ("scenes8", "flowers5", "imagenet1k", "celeba10k", "cbsd68", "cifar10")
    assert set(packs.load_origins()["packs"]) == set(packs.PACK_NAMES)
    assert packs.pack_names("course") == list(packs.COURSE_PACKS)
    assert packs.pack_names(["all"]) == list(packs.PACK_NAMES)
    assert packs.pack_names(["scenes8", "course"])[0] == "scenes8"
    assert packs.get_command(["scenes8", "celeba10k"]) == "lessons data get scenes8 celeba10k"
    assert packs.get_command("course") == "lessons data get course"
    assert packs.pack_bytes("scenes8") == 21_745_621  # the 1,643 files of the repository
    assert packs.pack_bytes("cifar10") == 170_498_071  # torchvision's archive
    assert "1,643" in packs.describe("scenes8") and "MB" in packs.describe("scenes8")
    with pytest.raises(LessonsError, match="unknown data pack 'scenes9'.*scenes8.*cifar10.*course"):
        packs.get_packs(["scenes9"])


def test_origins_keep_every_fact():
    spec = packs.load_origins()["packs"]
    s8 = spec["scenes8"]
    assert s8["files"][0] == ["val/airport/sun_bzbyarunxxqdfebc.jpg", "data/images/airport/sun_bzbyarunxxqdfebc.jpg",
                              "d5040cecd1e60c29fa68187ebf4266cce5255fb2", 10558]
    assert s8["levels"] == {"train/campus/sun_amctqydoyrijtgqy.jpg": 6}
    paths = {f[1] for f in spec["imagenet1k"]["files"]}
    assert "n02966687_carpenter's_kit.JPEG" in paths and len(paths) == 974
    assert spec["cifar10"]["pack_sha256"] == "0b9de4ad163b21135d759a96e5b90a27ef74c27970a2d8b458ab4313006af44f"
    assert spec["cifar10"]["archive"]["md5"] == "c58f30108f718f92721af3b95e74349a"
    if (SHARED / "origins.json").is_file():  # the maintainers' file: the same facts
        full = json.loads((SHARED / "origins.json").read_text())
        for name, entry in full["packs"].items():
            assert all(spec[name][k] == v for k, v in entry.items()), name


def test_data_dirs_include_the_user_folder_only_without_lessons_data(tmp_path, monkeypatch):
    monkeypatch.delenv("LESSONS_DATA", raising=False)
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    monkeypatch.delenv("XDG_DATA_HOME", raising=False)
    assert user_data_dir() == tmp_path / "home" / ".local" / "share" / "gan-lessons"
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "xdg"))
    assert user_data_dir() == tmp_path / "xdg" / "gan-lessons"
    user_data_dir().mkdir(parents=True)
    assert user_data_dir().resolve() in data_dirs()
    monkeypatch.setenv("LESSONS_DATA", str(tmp_path / "only"))
    (tmp_path / "only").mkdir()
    assert data_dirs() == [(tmp_path / "only").resolve()]


# --------------------------------------------------------------------------- from a URL
def test_good_install(data, toy, server, capsys):
    [path] = packs.get_packs(["toy"], source=server.url, jobs=3)
    assert path == data / "toy.zip"
    body = path.read_bytes()
    assert _sha256(body) == toy.spec["pack_sha256"] and body == toy.zip_bytes
    with zipfile.ZipFile(path) as zf:
        assert zf.namelist() == [m for m, _, _ in toy.files] + ["DATASET.json"]
        assert json.loads(zf.read("DATASET.json")) == toy.meta
    assert _leftovers(data) == []  # the staging folder and the temporary zip are gone
    # every blob once (after one look for a finished /toy.zip on the mirror); the path with an
    # apostrophe and a space was asked for URL-quoted
    assert server.requests == {"/toy.zip": 1, **{toy.url_path(p): 1 for p in ("imgs/red/a.png", "imgs/red/b.jpg",
                                                                             "imgs/blue/c d's.png", "imgs/red/e.png")}}
    assert toy.url_path("imgs/blue/c d's.png") in server.requests
    err = capsys.readouterr().err
    assert "toy" in err and "4/4 files" in err and "B/s" in err
    assert len(open_source("toy", "val")) == 2  # data_dirs() finds it
    assert packs.installed_pack("toy") == path
    # a second run checks the zip and asks for nothing
    assert packs.get_packs("toy", source=server.url, progress=False) == [path]
    assert sum(server.requests.values()) == 5


def test_resume_after_a_cut_connection(data, toy, server):
    cut = toy.url_path("imgs/red/e.png")  # the last of the 4 blobs (f_copy.png is a.png's)
    server.cut.add(cut)
    with pytest.raises(LessonsError, match="kept failing"):
        packs.get_packs(["toy"], source=server.url, jobs=1, retries=0, progress=False)
    assert not (data / "toy.zip").exists()
    staged = data / ".partial" / "toy"
    assert not list(staged.glob("*.part"))  # a partial file never counts
    verified = {p.name for p in staged.iterdir()}
    assert verified == {_blob(d) for _, _, d in toy.files[:3]}  # one download at a time: a, b, c
    before = Counter(server.requests)
    [path] = packs.get_packs(["toy"], source=server.url, jobs=1, retries=2, backoff=0, progress=False)
    assert _sha256(path.read_bytes()) == toy.spec["pack_sha256"]
    assert server.requests[cut] == 2
    for name in verified:  # files verified in the first run were not downloaded again
        path_of = next(p for m, p, d in toy.files if _blob(d) == name)
        assert server.requests[toy.url_path(path_of)] == before[toy.url_path(path_of)]
    assert not (data / ".partial").exists()


def test_a_verified_copy_in_another_data_folder_is_used(data, toy, server, tmp_path, monkeypatch):
    second = tmp_path / "second"
    second.mkdir()
    (second / "toy.zip").write_bytes(toy.zip_bytes)
    monkeypatch.setenv("LESSONS_DATA", f"{data}{os.pathsep}{second}")
    assert packs.get_packs(["toy"], source=server.url, progress=False) == [second / "toy.zip"]
    assert not server.requests and list(data.iterdir()) == []
    # an explicit --dir gets its own copy
    assert packs.get_packs(["toy"], dest=data, source=server.url, progress=False) == [data / "toy.zip"]


def test_through_an_http_proxy(data, toy, server, monkeypatch):
    monkeypatch.setenv("http_proxy", server.url)  # urllib talks to the proxy (the test server)
    monkeypatch.delenv("no_proxy", raising=False)
    monkeypatch.delenv("NO_PROXY", raising=False)
    [path] = packs.get_packs(["toy"], source="http://mirror.invalid", progress=False)
    assert path.read_bytes() == toy.zip_bytes
    assert server.requests["/toy.zip"] == 1 and server.requests[toy.url_path("imgs/red/a.png")] == 1


def test_retry_finishes_a_cut_file_in_one_run(data, toy, server):
    server.cut.add(toy.url_path("imgs/red/b.jpg"))
    server.busy.add(toy.url_path("imgs/red/a.png"))  # 503 once: tried again
    [path] = packs.get_packs(["toy"], source=server.url, retries=2, backoff=0, progress=False)
    assert path.read_bytes() == toy.zip_bytes
    assert server.requests[toy.url_path("imgs/red/b.jpg")] == server.requests[toy.url_path("imgs/red/a.png")] == 2


def test_tampered_file_is_refused(data, toy, server):
    good = toy.files[3][2]
    toy.write("imgs/red/e.png", good[:-4] + b"evil")
    with pytest.raises(LessonsError) as err:
        packs.get_packs(["toy"], source=server.url, retries=0, progress=False)
    msg = str(err.value)
    assert "imgs/red/e.png" in msg and "val/red/e.png" in msg
    assert _blob(good) in msg and _blob(good[:-4] + b"evil") in msg
    assert not (data / "toy.zip").exists()
    assert not (data / ".partial" / "toy" / _blob(good)).exists()
    assert not list((data / ".partial" / "toy").glob("*.part"))


def test_missing_file_names_pack_and_origin(data, toy, server):
    (toy.root / REPO / COMMIT / "imgs/red/e.png").unlink()
    with pytest.raises(LessonsError) as err:
        packs.get_packs(["toy"], source=server.url, retries=0, progress=False)
    msg = str(err.value)
    assert msg.startswith("toy: imgs/red/e.png (member val/red/e.png)") and "404" in msg
    assert f"{REPO}@{COMMIT}" in msg and server.url in msg
    assert not (data / "toy.zip").exists()


def test_offline_says_how_much_and_the_alternatives(data, toy):
    with socket.socket() as s:  # a port nobody listens on: connection refused
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    with pytest.raises(LessonsError) as err:
        packs.get_packs(["toy", "scenes8"], source=f"http://127.0.0.1:{port}", retries=1, backoff=0,
                        progress=False)
    msg = str(err.value)
    assert "cannot reach 127.0.0.1" in msg and "ConnectionRefusedError" in msg
    mb = (sum(len(d) for _, _, d in toy.files) + packs.pack_bytes("scenes8")) / 1e6
    assert f"{mb:,.1f} MB" in msg
    assert "lessons data get toy scenes8 --from FOLDER_OR_URL" in msg
    assert "USB" in msg and "bundled with scikit-image and matplotlib" in msg
    assert not (data / "toy.zip").exists()


# --------------------------------------------------------------------------- from a folder
def test_from_a_folder_tree(data, toy):
    [path] = packs.get_packs(["toy"], source=toy.root, progress=False)
    assert path.read_bytes() == toy.zip_bytes and _leftovers(data) == []


def test_from_a_folder_of_zips_and_a_tampered_zip(data, toy, tmp_path):
    usb = tmp_path / "usb"
    usb.mkdir()
    (usb / "toy.zip").write_bytes(toy.zip_bytes)
    dest = tmp_path / "elsewhere"
    [path] = packs.get_packs(["toy"], dest=dest, source=usb, progress=False)
    assert path == dest / "toy.zip" and path.read_bytes() == toy.zip_bytes
    bad = bytearray(toy.zip_bytes)
    bad[100] ^= 0xFF
    (usb / "toy.zip").write_bytes(bytes(bad))
    with pytest.raises(LessonsError) as err:
        packs.get_packs(["toy"], source=usb, progress=False)
    msg = str(err.value)
    assert toy.spec["pack_sha256"] in msg and _sha256(bytes(bad)) in msg and "refused" in msg
    assert list(data.iterdir()) == []
    with pytest.raises(LessonsError, match=r"neither toy\.zip .* nor test-owner/toy-repo/0123"):
        packs.get_packs(["toy"], source=tmp_path / "elsewhere" / "..", dest=tmp_path / "d2", progress=False)
    with pytest.raises(LessonsError, match="no such folder"):
        packs.get_packs(["toy"], source=tmp_path / "nope", progress=False)


def test_reencoded_pack_is_stored_with_a_sidecar(data, tmp_path, monkeypatch):
    files = [("train/a/big.jpg", "big.JPEG", _image(5, "JPEG", (320, 200))),
             ("train/b/small.png", "small.PNG", _image(6, "PNG", (100, 120)))]
    origin = Origin(tmp_path / "origin", name="toyjpeg", files=files, transform=True)
    _inject(monkeypatch, origin)
    with _serving(origin.root) as server:
        [path] = packs.get_packs("toyjpeg", source=server.url, progress=False)
        with zipfile.ZipFile(path) as zf:
            assert zf.namelist() == ["train/a/big.jpg", "train/b/small.png", "DATASET.json"]
            assert {i.compress_type for i in zf.infolist()} == {zipfile.ZIP_STORED}
            assert Image.open(io.BytesIO(zf.read("train/a/big.jpg"))).size == (256, 160)
            small = Image.open(io.BytesIO(zf.read("train/b/small.png")))
            assert small.size == (100, 120) and small.format == "JPEG"
        record = json.loads(Path(str(path) + packs.SIDECAR).read_text())
        assert record["sha256"] == _sha256(path.read_bytes()) and record["commit"] == COMMIT
        n = sum(server.requests.values())
        assert packs.get_packs("toyjpeg", source=server.url, progress=False) == [path]
        assert sum(server.requests.values()) == n  # verified by its sidecar: nothing fetched


def test_cifar10_from_a_folder(data, tmp_path, monkeypatch):
    """torchvision's archive (checked by md5) is unpacked into <dest>/cifar10, where
    installed_pack and open_source's torchvision lookup find it; a zip copy by sha256."""
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz") as tf:
        for f in [f"data_batch_{k}" for k in range(1, 6)] + ["test_batch", "batches.meta"]:
            info = tarfile.TarInfo(f"cifar-10-batches-py/{f}")
            info.size = 3
            tf.addfile(info, io.BytesIO(b"abc"))
    archive = buf.getvalue()
    real = packs.load_origins()
    cifar = {**real["packs"]["cifar10"], "pack_sha256": _sha256(b"PK fake"),
             "archive": {**real["packs"]["cifar10"]["archive"], "md5": hashlib.md5(archive).hexdigest(),
                         "bytes": len(archive)}}
    monkeypatch.setattr(packs, "_ORIGINS", {**real, "packs": {**real["packs"], "cifar10": cifar}})
    usb = tmp_path / "usb"
    usb.mkdir()
    (usb / "cifar-10-python.tar.gz").write_bytes(archive)
    [path] = packs.get_packs(["cifar10"], source=usb, progress=False)
    assert path == data / "cifar10" and (path / "cifar-10-batches-py" / "test_batch").is_file()
    assert not (path / "cifar-10-python.tar.gz").exists()
    assert packs.installed_pack("cifar10") == path
    row = next(i for i in list_sources() if i.name == "cifar10")  # open_source's lookup finds them too
    assert row.kind == "torchvision" and row.available and str(path) in row.note
    (usb / "cifar10.zip").write_bytes(b"PK fake")
    [path] = packs.get_packs(["cifar10"], source=usb, dest=tmp_path / "other", progress=False)
    assert path == tmp_path / "other" / "cifar10.zip"


def test_cifar10_from_torchvision(data, monkeypatch):
    """Without --from, cifar10 is torchvision's official download into <dest>/cifar10 (faked here)."""
    import urllib.error

    import torchvision.datasets

    calls = []

    class FakeCIFAR10:
        def __init__(self, root, train=True, download=False):
            calls.append((root, download))
            base = Path(root) / "cifar-10-batches-py"
            base.mkdir(parents=True)
            for f in [f"data_batch_{k}" for k in range(1, 6)] + ["test_batch", "batches.meta"]:
                (base / f).write_bytes(b"x")
            (Path(root) / "cifar-10-python.tar.gz").write_bytes(b"archive")

    monkeypatch.setattr(torchvision.datasets, "CIFAR10", FakeCIFAR10)
    [path] = packs.get_packs(["cifar10"], progress=False)
    assert path == data / "cifar10" and calls == [(str(data / "cifar10"), True)]
    assert not (path / "cifar-10-python.tar.gz").exists()  # the unpacked batches are enough
    assert packs.get_packs(["cifar10"], progress=False) == [path] and len(calls) == 1  # already there

    class Offline:
        def __init__(self, root, train=True, download=False):
            raise urllib.error.URLError(socket.gaierror(-3, "Temporary failure in name resolution"))

    monkeypatch.setattr(torchvision.datasets, "CIFAR10", Offline)
    with pytest.raises(LessonsError) as err:
        packs.get_packs(["cifar10"], dest=data / "other", progress=False)
    msg = str(err.value)
    assert "cannot reach www.cs.toronto.edu" in msg and "170.5 MB" in msg
    assert "lessons data get cifar10 --from FOLDER_OR_URL" in msg


# --------------------------------------------------------------------------- the command line
def test_cli_get_and_list(data, toy, server, tmp_path, capsys):
    assert main(["data", "get", "toy", "--from", server.url, "--jobs", "2"]) == 0
    out = capsys.readouterr().out
    assert f"toy: {data / 'toy.zip'}" in out and "data_dirs() finds them" in out
    other = tmp_path / "other"
    assert main(["data", "get", "toy", "--from", server.url, "--dir", str(other)]) == 0
    out = capsys.readouterr().out
    assert f"set LESSONS_DATA={other}" in out and (other / "toy.zip").is_file()
    assert main(["data", "list"]) == 0
    rows = {line.split()[0]: line for line in capsys.readouterr().out.splitlines()[2:] if line.strip()}
    assert "yes" in rows["toy"] and str(data / "toy.zip") in rows["toy"] and "MB" in rows["toy"]
    assert "not installed" in rows["scenes8"] and "21.7 MB" in rows["scenes8"]
    assert "lessons data get scenes8" in rows["scenes8"]
    assert "torchvision" in rows["cifar10"] and "lessons data get cifar10" in rows["cifar10"]
    assert "not installed [170.5 MB: lessons data get cifar10]" in rows["cifar10"]     # the command, not an API
    assert "download=True" in rows["voc"] and "not downloaded" in rows["voc"]           # torchvision's own sets
    assert "synthetic" in rows and "samples" in rows
    assert main(["data", "get", "nope"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: unknown data pack 'nope'") and "scenes8" in err and "Traceback" not in err


# --------------------------------------------------------------------------- the real packs
def _real_lookup(names):
    """URL path -> bytes for the files of these packs, read from the shared zips."""
    table, handles, lock = {}, {}, threading.Lock()
    for name in names:
        spec = packs.load_origins()["packs"][name]
        handles[name] = zipfile.ZipFile(SHARED / f"{name}.zip")
        for member, path, _, _ in spec["files"]:
            table[f"/{spec['repository']}/{spec['commit']}/{path}"] = (name, member)

    def lookup(path: str) -> bytes | None:
        if path not in table:
            return None
        name, member = table[path]
        with lock:
            return handles[name].read(member)
    return lookup


@pytest.mark.slow
@pytest.mark.skipif(not (SHARED / "scenes8.zip").is_file(), reason="../shared/data (the real packs) is not on this machine")
def test_real_packs_rebuild_byte_identical(data, tmp_path, capsys):
    names = ["scenes8", "cbsd68"]
    with _serving(tmp_path, _real_lookup(names)) as server:
        paths = packs.get_packs(names, source=server.url, progress=False)
    for name, path in zip(names, paths):
        got = _sha256(path.read_bytes())
        shared = _sha256((SHARED / f"{name}.zip").read_bytes())
        print(f"{name}: rebuilt {got} shared {shared}")
        assert got == shared == packs.load_origins()["packs"][name]["pack_sha256"]
    # the shared folder itself is a folder of finished packs
    dest = tmp_path / "from-shared"
    assert main(["data", "get", "course", "--from", str(SHARED), "--dir", str(dest)]) == 0
    for name in packs.COURSE_PACKS:
        assert _sha256((dest / f"{name}.zip").read_bytes()) == _sha256((SHARED / f"{name}.zip").read_bytes())
    assert os.listdir(dest) and not _leftovers(dest)
