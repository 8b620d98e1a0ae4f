"""Image sources: one name in, a dataset of RGB PIL images out.

``open_source(name, split)`` understands

* ``"samples"``: the colour photos that ship inside installed packages (scikit-image's
  ``skimage/data``, matplotlib's ``sample_data``, scikit-learn's ``datasets/images``). Only
  files already on disk are used: nothing is downloaded (scikit-image fetches some of its
  images with pooch on demand; those are never asked for). At least ten colour photos with
  scikit-image and matplotlib alone. The set is tiny, so **every split holds all of them**:
  it is for demos, smoke runs and tests, not for measuring generalisation. ``label(i)`` is
  the photo's name (``"astronaut"``).
* ``"faces"``: 4 face crops of the bundled public-domain portraits (scikit-image's
  astronaut, matplotlib's Grace Hopper, each also mirrored), framed like celeba10k's; every
  split holds all of them. The restorer's lessons use them when celeba10k is not installed.
* ``"synthetic"``: generated landscapes (:mod:`lessons_lib.data.synthetic`), 64x64,
  256 in ``train``, 64 in ``val`` and 64 in ``test`` (different seeds, so disjoint).
* a folder or a ``.zip`` laid out like torchvision's ``ImageFolder``:
  ``root/<split>/<class>/img.jpg`` with ``train`` / ``val`` / ``test`` split folders, or
  ``root/<class>/img.jpg`` (no split folders: everything is ``train``). A zip may wrap
  this in one top-level folder; it is read in place (``zipfile``), never extracted, and
  opening it reads only the list of names. A bare pack name (``"scenes8"``) is looked up
  as ``<data dir>/scenes8.zip`` (see :func:`data_dirs`: ``../shared/data`` and the per-user
  folder :func:`user_data_dir`, or only ``LESSONS_DATA`` when it is set). A fresh clone has
  no packs: ``lessons data get course`` installs the course's packs into the per-user
  folder from their public origins, pinned and verified (:mod:`lessons_lib.data.packs`).
* ``"a+b"`` (``"scenes8+flowers5"``): the images of sources ``a`` and ``b``, one after
  the other, for each split.
* ``"cifar10"``, ``"places365"``, ``"voc"``, ``"celeba"``: the real datasets through
  torchvision's loaders, looked for in ``<data dir>/<name>`` (where ``lessons data get
  cifar10`` puts them) and ``~/.cache/gan-lessons/<name>``, unless ``root`` is given. They
  are downloaded only with ``download=True`` (into ``~/.cache/gan-lessons/<name>``); without
  the files the error says exactly where to put them. Nothing here touches the network
  otherwise.

A file that cannot be decoded is skipped with a warning that names it (the next readable
image takes its place), so one bad JPEG never ends a training run.
"""
from __future__ import annotations

import hashlib
import importlib.util
import json
import os
import sys
import warnings
import zipfile
import zlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Sequence

import numpy as np
from PIL import Image
from torch.utils.data import Dataset

from .. import LessonsError
from .images import load_image, tensor_to_image
from .synthetic import synthetic_image

__all__ = [
    "SourceInfo",
    "ImageSource",
    "list_sources",
    "format_source_table",
    "open_source",
    "data_dirs",
    "user_data_dir",
    "torchvision_roots",
    "has_torchvision_files",
    "sample_files",
    "sample_photos",
    "IMAGE_EXTENSIONS",
    "SPLITS",
    "select_split",
    "SELECT_FRACTION",
    "SELECT_SEED",
]

IMAGE_EXTENSIONS = (".jpg", ".jpeg", ".png", ".bmp", ".gif", ".tif", ".tiff", ".webp", ".ppm", ".pgm", ".pnm")
SPLITS = ("train", "val", "test")
# Folder names (and split arguments) accepted for each split.
_SPLIT_ALIASES = {
    "train": "train", "training": "train",
    "val": "val", "valid": "val", "validation": "val",
    "test": "test", "testing": "test",
}
_REPO_ROOT = Path(__file__).resolve().parents[2]

# Synthetic source: image size and number of images per split (and the seed of each
# split, so that train, val and test never share an image).
SYNTHETIC_SIZE = 64
_SYNTHETIC_SPLITS = {"train": (256, 0), "val": (64, 1), "test": (64, 2)}

# Colour photos bundled in installed packages: (package, folder inside it, file names).
# Grayscale images (camera, coins, moon, ...), drawings (logo, color, chessboard) and
# animations are left out on purpose: a colorizer needs colour photographs.
_SAMPLE_FILES: tuple[tuple[str, str, tuple[str, ...]], ...] = (
    ("skimage", "data", (
        "astronaut.png", "chelsea.png", "coffee.png", "rocket.jpg", "motorcycle_left.png",
        "motorcycle_right.png", "ihc.png", "retina.jpg", "hubble_deep_field.jpg",
    )),
    ("matplotlib", "mpl-data/sample_data", ("grace_hopper.jpg",)),
    ("sklearn", "datasets/images", ("china.jpg", "flower.jpg")),
)

# Face crops for the restorer's lessons where the celeba10k pack is not installed: the two
# bundled portraits, both public domain (scikit-image's astronaut, Eileen Collins, a NASA
# photo; matplotlib's Grace Hopper, a US Navy photo), each cropped square and framed like
# celeba10k's centre crops (brow to chin, the eyes a little above the middle), and each
# also mirrored: 4 faces, the same in every split (like ``samples``: for seeing the
# mechanics, not for measuring generalisation).
# (package, folder inside it, file, label, crop box (left, top, right, bottom) in pixels)
_FACE_CROPS: tuple[tuple[str, str, str, str, tuple[int, int, int, int]], ...] = (
    ("skimage", "data", "astronaut.png", "astronaut", (150, 30, 300, 180)),
    ("matplotlib", "mpl-data/sample_data", "grace_hopper.jpg", "grace_hopper", (100, 60, 420, 380)),
)


# --------------------------------------------------------------------------- the dataset
class ImageSource(Dataset):
    """A list of images: ``source[i]`` is an RGB PIL image, ``source.label(i)`` its class.

    Subclasses implement ``_load(i)`` (may raise :class:`LessonsError` for a bad file) and
    ``path(i)``. Indexing skips unreadable images: the first time image ``i`` fails to
    decode, a warning names the file and the next readable image is returned instead;
    the bad index is remembered, so the warning is given once per file and process.
    """

    kind = "source"

    def __init__(self, name: str, split: str, n: int, labels: Sequence[str | None] | None = None) -> None:
        self.name = name
        self.split = split
        self._n = int(n)
        self._labels = labels
        self._bad: set[int] = set()

    def __len__(self) -> int:
        return self._n

    def _load(self, i: int) -> Image.Image:  # pragma: no cover - abstract
        raise NotImplementedError

    def path(self, i: int) -> str:
        """Where image ``i`` comes from (a file, ``archive.zip:member``, or a description)."""
        return f"{self.name}[{i}]"

    def label(self, i: int) -> str | None:
        """The class name of image ``i`` (the folder it sits in), or None when unknown."""
        i = self._check_index(i)
        return None if self._labels is None else self._labels[i]

    def _check_index(self, i: int) -> int:
        if not isinstance(i, (int, np.integer)):
            raise TypeError(f"image index must be an int, got {type(i).__name__}")
        n = self._n
        if i < 0:
            i += n
        if not 0 <= i < n:
            raise IndexError(f"image index {i} out of range for {self.name!r} ({n} images in {self.split!r})")
        return int(i)

    def __getitem__(self, i: int) -> Image.Image:
        i = self._check_index(i)
        for k in range(self._n):
            j = (i + k) % self._n
            if j in self._bad:
                continue
            try:
                return self._load(j)
            except LessonsError as e:
                self._bad.add(j)
                warnings.warn(f"skipping unreadable image {self.path(j)}: {e}", UserWarning, stacklevel=2)
        raise LessonsError(
            f"no image of source {self.name!r} (split {self.split!r}) could be read; "
            "check the files (see the warnings above for each one)"
        )

    def __repr__(self) -> str:
        return f"{type(self).__name__}(name={self.name!r}, split={self.split!r}, images={len(self)})"


class _ConcatSource(ImageSource):
    """Several sources one after the other (``"scenes8+flowers5"``); labels are kept."""

    kind = "concat"

    def __init__(self, name: str, split: str, parts: Sequence[ImageSource]) -> None:
        self._parts = list(parts)
        self._starts = np.cumsum([0] + [len(p) for p in self._parts])
        super().__init__(name, split, int(self._starts[-1]))

    def _where(self, i: int) -> tuple[ImageSource, int]:
        k = int(np.searchsorted(self._starts, i, side="right")) - 1
        return self._parts[k], i - int(self._starts[k])

    def path(self, i: int) -> str:
        part, j = self._where(self._check_index(i))
        return part.path(j)

    def label(self, i: int) -> str | None:
        part, j = self._where(self._check_index(i))
        return part.label(j)

    def _load(self, i: int) -> Image.Image:
        part, j = self._where(i)
        return part._load(j)


class _FileSource(ImageSource):
    """Images stored as files on disk (samples, folders, torchvision datasets on disk)."""

    kind = "files"

    def __init__(self, name: str, split: str, paths: Sequence[str], labels: Sequence[str | None] | None = None) -> None:
        super().__init__(name, split, len(paths), labels)
        self._paths = list(paths)

    def path(self, i: int) -> str:
        return str(self._paths[self._check_index(i)])

    def _load(self, i: int) -> Image.Image:
        return load_image(self._paths[i])


class _ZipSource(ImageSource):
    """Images read straight out of a zip archive (members decoded in memory)."""

    kind = "zip"

    def __init__(self, name: str, split: str, archive: Path, members: Sequence[str],
                 labels: Sequence[str | None] | None = None) -> None:
        super().__init__(name, split, len(members), labels)
        self.archive = Path(archive)
        self._members = list(members)

    def _zip(self) -> zipfile.ZipFile:
        return _open_zip(self.archive)  # the handle of this process (workers open their own)

    def path(self, i: int) -> str:
        return f"{self.archive}:{self._members[self._check_index(i)]}"

    def _load(self, i: int) -> Image.Image:
        where = f"{self.archive}:{self._members[i]}"
        try:
            data = self._zip().read(self._members[i])
        except (zipfile.BadZipFile, zlib.error, OSError, EOFError, KeyError, RuntimeError) as e:
            raise LessonsError(f"{where} cannot be read from the archive ({e})") from e
        return load_image(data, name=where)


class _ArraySource(ImageSource):
    """Images held in a uint8 array (N, H, W, 3), e.g. CIFAR-10's batches."""

    kind = "array"

    def __init__(self, name: str, split: str, array: np.ndarray, labels: Sequence[str | None] | None = None) -> None:
        super().__init__(name, split, len(array), labels)
        self._array = array

    def _load(self, i: int) -> Image.Image:
        return Image.fromarray(np.ascontiguousarray(self._array[i]))


class _FaceSource(ImageSource):
    """The bundled face crops (``"faces"``): each portrait of ``_FACE_CROPS``, then its mirror."""

    kind = "faces"

    def __init__(self, split: str, files: Sequence[tuple[Path, str, tuple[int, int, int, int]]]) -> None:
        self._faces = list(files)
        labels = [lab + suffix for _, lab, _ in self._faces for suffix in ("", "_mirrored")]
        super().__init__("faces", split, len(labels), labels)

    def path(self, i: int) -> str:
        f, _, box = self._faces[self._check_index(i) // 2]
        return f"{f} (face crop {box}{', mirrored' if i % 2 else ''})"

    def _load(self, i: int) -> Image.Image:
        f, _, box = self._faces[i // 2]
        face = load_image(f).crop(box)
        return face.transpose(Image.Transpose.FLIP_LEFT_RIGHT) if i % 2 else face


class _SyntheticSource(ImageSource):
    """Generated landscapes, made on demand (image i depends only on the split's seed and i)."""

    kind = "synthetic"

    def __init__(self, split: str, size: int = SYNTHETIC_SIZE) -> None:
        n, seed = _SYNTHETIC_SPLITS[split]
        super().__init__("synthetic", split, n, None)
        self.size = size
        self.seed = seed

    def path(self, i: int) -> str:
        return f"synthetic[{self.split} #{self._check_index(i)}]"

    def _load(self, i: int) -> Image.Image:
        return tensor_to_image(synthetic_image(i, self.size, self.seed))


# --------------------------------------------------------------------------- helpers
def _norm_split(split: str) -> str:
    s = str(split).strip().lower()
    if s not in _SPLIT_ALIASES:
        raise LessonsError(f"unknown split {split!r}: use one of {', '.join(SPLITS)}")
    return _SPLIT_ALIASES[s]


def _is_image_name(name: str) -> bool:
    # Plain string operations: this runs on every member of 60,000-image archives.
    if not name.lower().endswith(IMAGE_EXTENSIONS):
        return False
    # Hidden files and macOS resource forks (__MACOSX/, ._photo.jpg) are not images.
    return not any(part.startswith(".") or part == "__MACOSX" for part in name.split("/"))


def _index_layout(rel_paths: Sequence[str], where: str) -> dict[str, list[tuple[str, str | None]]]:
    """Sort image paths (posix, relative to the source root) into splits and classes.

    Returns ``{split: [(rel_path, class or None), ...]}`` in sorted order. Layouts:
    ``<split>/<class>/.../img`` (split folders present: files outside them are ignored
    with a warning), or ``<class>/.../img`` / ``img`` (no split folders: all ``train``).
    Leading folders shared by every file are stripped first (a zip of a folder), as long
    as they are not split names and each file keeps at least one folder above it.
    """
    items = sorted(rel_paths)
    parts = [tuple(q for q in p.split("/") if q) for p in items]
    strip = 0
    while parts:
        firsts = {p[strip] for p in parts if len(p) > strip}
        if (len(firsts) == 1 and next(iter(firsts)).lower() not in _SPLIT_ALIASES
                and all(len(p) - strip >= 3 for p in parts)):
            strip += 1
        else:
            break
    rels = [p[strip:] for p in parts]
    has_splits = any(len(r) >= 2 and r[0].lower() in _SPLIT_ALIASES for r in rels)
    out: dict[str, list[tuple[str, str | None]]] = {}
    outside: list[str] = []
    for key, r in zip(items, rels):
        if has_splits:
            if len(r) >= 2 and r[0].lower() in _SPLIT_ALIASES:
                split, rest = _SPLIT_ALIASES[r[0].lower()], r[1:]
            else:
                outside.append(key)
                continue
        else:
            split, rest = "train", r
        out.setdefault(split, []).append((key, rest[0] if len(rest) >= 2 else None))
    if outside:
        warnings.warn(
            f"{where}: {len(outside)} image(s) outside the train/val/test folders are ignored "
            f"(e.g. {outside[0]})",
            UserWarning,
            stacklevel=3,
        )
    return out


def _missing_split(where: str, split: str, present: dict[str, Any]) -> LessonsError:
    order = [s for s in SPLITS if s in present]
    have = ", ".join(f"{s} ({len(present[s]) if not isinstance(present[s], int) else present[s]} images)" for s in order)
    hint = ""
    if set(present) == {"train"}:
        hint = " (no train/val/test folders, so every image is in 'train')"
    return LessonsError(f"{where} has no {split!r} split; splits present: {have}{hint}")


# Open archives, one handle per (archive, process): parsing the central directory of a
# 60,000-member zip takes about a second, so the index and the readers share the handle.
# A forked DataLoader worker opens its own (a ZipFile's file position must not be shared).
_ZIP_HANDLES: dict[tuple[str, int, int, int], zipfile.ZipFile] = {}


def _open_zip(archive: Path) -> zipfile.ZipFile:
    st = archive.stat()
    key = (str(archive.resolve()), st.st_size, st.st_mtime_ns, os.getpid())
    zf = _ZIP_HANDLES.get(key)
    if zf is None:
        zf = zipfile.ZipFile(archive)
        _ZIP_HANDLES[key] = zf
    return zf


# Index of each archive already read, keyed by (path, size, mtime): opening the train and
# the val split of a 60,000-image pack parses its central directory once.
_ZIP_CACHE: dict[tuple[str, int, int], tuple[dict[str, list[tuple[str, str | None]]], list[str], str]] = {}


def _zip_index(archive: Path) -> tuple[dict[str, list[tuple[str, str | None]]], list[str], str]:
    """Split layout of a zip, its empty members and its DATASET.json "what" line.

    Only the central directory (the list of names) and DATASET.json are read: no image.
    """
    try:
        st = archive.stat()
        key = (str(archive.resolve()), st.st_size, st.st_mtime_ns)
        if key in _ZIP_CACHE:
            return _ZIP_CACHE[key]
        zf = _open_zip(archive)
        infos = zf.infolist()
        description = ""
        for info in infos:
            base = info.filename.rsplit("/", 1)[-1]
            if base == "DATASET.json" and info.filename.count("/") <= 1:
                try:
                    meta = json.loads(zf.read(info))
                    description = str(meta.get("what") or meta.get("name") or "")
                except (ValueError, AttributeError, zipfile.BadZipFile, zlib.error):
                    pass
                break
    except (zipfile.BadZipFile, OSError) as e:
        raise LessonsError(f"{archive} is not a readable zip archive ({e}); re-download or re-create it") from e
    names, empty = [], []
    for info in infos:
        name = info.filename
        if name.endswith("/") or not _is_image_name(name):
            continue
        (names if info.file_size > 0 else empty).append(name)
    result = (_index_layout(names, str(archive)), empty, description)
    _ZIP_CACHE[key] = result
    return result


def _folder_index(folder: Path) -> tuple[dict[str, list[tuple[str, str | None]]], list[str]]:
    names, empty = [], []
    for dirpath, dirnames, filenames in os.walk(folder, followlinks=True):
        dirnames[:] = sorted(d for d in dirnames if not d.startswith(".") and d != "__MACOSX")
        for fn in filenames:
            full = os.path.join(dirpath, fn)
            rel = Path(full).relative_to(folder).as_posix()
            if not _is_image_name(rel):
                continue
            try:
                size = os.path.getsize(full)
            except OSError:
                size = 0
            (names if size > 0 else empty).append(rel)
    return _index_layout(names, str(folder)), empty


def _warn_empty(where: Path, empty: list[str]) -> None:
    if empty:
        warnings.warn(
            f"{where}: skipping {len(empty)} empty file(s), e.g. {empty[0]}", UserWarning, stacklevel=3
        )


def _open_tree(path: Path, split: str, name: str | None = None) -> ImageSource:
    """A folder or a zip laid out like ImageFolder."""
    is_zip = path.is_file()
    if is_zip and not zipfile.is_zipfile(path):
        raise LessonsError(f"{path} is neither a folder nor a .zip archive of images")
    index, empty = _zip_index(path)[:2] if is_zip else _folder_index(path)
    _warn_empty(path, empty)
    if not index:
        raise LessonsError(
            f"{path} contains no images (looked for {', '.join(IMAGE_EXTENSIONS)} files, "
            "laid out as <split>/<class>/image or <class>/image)"
        )
    if split not in index:
        raise _missing_split(str(path), split, index)
    entries = index[split]
    keys = [k for k, _ in entries]
    labels = [c for _, c in entries]
    label_list = None if all(c is None for c in labels) else labels
    src_name = name or path.resolve().stem
    if is_zip:
        return _ZipSource(src_name, split, path, keys, label_list)
    return _FileSource(src_name, split, [str(path / k) for k in keys], label_list)


def user_data_dir() -> Path:
    """The per-user folder for data packs (it may not exist yet): ``lessons data get`` puts
    the packs there, and :func:`data_dirs` searches it when ``LESSONS_DATA`` is unset.

    ``$XDG_DATA_HOME/gan-lessons`` (default ``~/.local/share/gan-lessons``) on Linux and
    other Unix systems, ``~/Library/Application Support/gan-lessons`` on macOS,
    ``%LOCALAPPDATA%\\gan-lessons`` on Windows.
    """
    if sys.platform.startswith("win"):
        base = os.environ.get("LOCALAPPDATA", "").strip()
        return (Path(base) if base else Path.home() / "AppData" / "Local") / "gan-lessons"
    if sys.platform == "darwin":
        return Path.home() / "Library" / "Application Support" / "gan-lessons"
    xdg = os.environ.get("XDG_DATA_HOME", "").strip()
    # The XDG spec: a relative path is invalid and must be ignored.
    base = Path(xdg) if xdg and os.path.isabs(xdg) else Path.home() / ".local" / "share"
    return base / "gan-lessons"


def data_dirs() -> list[Path]:
    """Folders searched for data packs (``*.zip``), existing ones only, without duplicates.

    ``LESSONS_DATA`` (one or more folders separated by ``os.pathsep``) when set, and then
    only it (tests and CI point it at an empty folder to see a fresh machine). Otherwise
    ``../shared/data`` relative to the current folder and relative to the repository root,
    then the per-user folder :func:`user_data_dir` (where ``lessons data get`` installs).
    """
    env = os.environ.get("LESSONS_DATA", "").strip()
    if env:
        candidates = [Path(p).expanduser() for p in env.split(os.pathsep) if p.strip()]
    else:
        candidates = [Path.cwd().parent / "shared" / "data", _REPO_ROOT.parent / "shared" / "data",
                      user_data_dir()]
    seen: list[Path] = []
    for c in candidates:
        if c.is_dir():
            r = c.resolve()
            if r not in seen:
                seen.append(r)
    return seen


def _short_path(p: Path) -> str:
    """The path as typed from the current folder when that is shorter (``../shared/data/x.zip``)."""
    try:
        rel = os.path.relpath(p)
    except ValueError:  # another drive on Windows
        return str(p)
    return rel if len(rel) < len(str(p)) else str(p)


def _packs() -> list[tuple[str, Path]]:
    """(name, path) of every pack in the data folders; a pack whose stem is taken (a named
    source or an earlier pack) is named by its full path instead."""
    taken = set(_NAMED)
    out: list[tuple[str, Path]] = []
    for d in data_dirs():
        for p in sorted(d.glob("*.zip")):
            name = p.stem if p.stem.lower() not in taken else _short_path(p)
            taken.add(p.stem.lower())
            out.append((name, p))
    return out


def _pack_by_stem(stem: str) -> Path | None:
    """<data dir>/<stem>.zip, even when a named source shares the stem (cifar10)."""
    for d in data_dirs():
        p = d / f"{stem}.zip"
        if p.is_file():
            return p
    return None


def _find_pack(name: str) -> Path | None:
    for pack_name, p in _packs():
        if pack_name.lower() == name.lower():
            return p
    for d in data_dirs():  # a folder pack <data dir>/<name>/
        if (d / name).is_dir():
            return d / name
    return None


# --------------------------------------------------------------------------- samples
def _package_dir(package: str) -> Path | None:
    """Where an installed package lives, found without importing it."""
    try:
        spec = importlib.util.find_spec(package)
    except (ImportError, ValueError):
        return None
    if spec is None or not spec.submodule_search_locations:
        return None
    return Path(list(spec.submodule_search_locations)[0])


def sample_files() -> list[Path]:
    """The bundled colour photos that are on disk, in a fixed order."""
    files: list[Path] = []
    for package, sub, names in _SAMPLE_FILES:
        base = _package_dir(package)
        if base is None:
            continue
        for n in names:
            p = base / sub / n
            if p.is_file() and p.stat().st_size > 0:
                files.append(p)
    return files


def sample_photos(names: Sequence[str], split: str = "val") -> ImageSource:
    """The bundled photos called ``names`` (their ``samples`` labels, e.g. ``"astronaut"``),
    in this order, as one source; a clear error lists the photos there when one is missing."""
    where = {f.stem: f for f in sample_files()}
    missing = [n for n in names if n not in where]
    if missing:
        raise LessonsError(f"bundled photo(s) {', '.join(missing)} not found among the installed packages' "
                           f"sample photos ({', '.join(where) or 'none'}); reinstall scikit-image")
    return _FileSource("samples:" + ",".join(names), _norm_split(split), [str(where[n]) for n in names],
                       list(names))


def face_files() -> list[tuple[Path, str, tuple[int, int, int, int]]]:
    """(file, label, crop box) of each bundled portrait that is on disk."""
    out = []
    for package, sub, name, label, box in _FACE_CROPS:
        base = _package_dir(package)
        if base is not None and (base / sub / name).is_file():
            out.append((base / sub / name, label, box))
    return out


def _open_faces(split: str) -> ImageSource:
    files = face_files()
    if not files:
        raise LessonsError("no bundled face photos found: install scikit-image and matplotlib "
                           "(pip install scikit-image matplotlib), or get real faces with `lessons data get celeba10k`")
    return _FaceSource(split, files)


def _open_samples(split: str) -> ImageSource:
    files = sample_files()
    if not files:
        raise LessonsError(
            "no bundled sample photos found: install scikit-image and matplotlib "
            "(pip install scikit-image matplotlib)"
        )
    return _FileSource("samples", split, [str(f) for f in files], [f.stem for f in files])


# --------------------------------------------------------------------------- torchvision
@dataclass(frozen=True)
class _Torchvision:
    """How one torchvision dataset is laid out on disk and opened."""

    description: str
    sizes: dict[str, int]                        # official split sizes
    required: Callable[[Path, str], list[Path]]  # files/folders needed for a split
    how: Callable[[Path], str]                   # where to put the files, in words
    opener: Callable[[Path, str, bool], ImageSource]


def _default_root(name: str) -> Path:
    return Path.home() / ".cache" / "gan-lessons" / name


def torchvision_roots(name: str) -> list[Path]:
    """Where the files of torchvision dataset ``name`` are looked for, in this order:
    ``<data dir>/<name>`` for each of :func:`data_dirs` (``lessons data get cifar10`` puts
    them there), then ``~/.cache/gan-lessons/<name>`` (where ``download=True`` puts them)."""
    if name not in _TORCHVISION:
        raise LessonsError(f"{name!r} is not a torchvision source; those are {', '.join(_TORCHVISION)}")
    return [d / name for d in data_dirs()] + [_default_root(name)]


def has_torchvision_files(name: str, root: str | os.PathLike, split: str | None = None) -> bool:
    """Whether ``root`` holds the files torchvision dataset ``name`` needs for ``split``
    (for every split when ``split`` is None). Only their presence is checked."""
    spec = _TORCHVISION[name]
    splits = spec.sizes if split is None else [_norm_split(split)]
    return all(p.exists() for s in splits for p in spec.required(Path(root), s))


def _found_root(name: str, split: str) -> Path:
    """The first of :func:`torchvision_roots` with the split's files, else the default root."""
    for r in torchvision_roots(name):
        if has_torchvision_files(name, r, split):
            return r
    return _default_root(name)


# CIFAR-10 (Krizhevsky, "Learning multiple layers of features from tiny images", 2009): python batches, 32x32, 50,000 train / 10,000 test.
def _cifar_required(root: Path, split: str) -> list[Path]:
    base = root / "cifar-10-batches-py"
    files = [f"data_batch_{k}" for k in range(1, 6)] if split == "train" else ["test_batch"]
    return [base / f for f in files + ["batches.meta"]]


def _cifar_open(root: Path, split: str, download: bool) -> ImageSource:
    from torchvision.datasets import CIFAR10

    ds = CIFAR10(str(root), train=(split == "train"), download=download)
    return _ArraySource("cifar10", split, ds.data, [ds.classes[t] for t in ds.targets])


# Places365-Standard (Zhou et al., "Places: A 10 million image database for scene
# recognition", TPAMI 2017; the dataset of seed 000), small (256x256) images: 1,803,460 train / 36,500 val.
_PLACES_SPLIT = {"train": "train-standard", "val": "val"}


def _places_required(root: Path, split: str) -> list[Path]:
    if split == "train":
        return [root / "categories_places365.txt", root / "places365_train_standard.txt", root / "data_256_standard"]
    return [root / "categories_places365.txt", root / "places365_val.txt", root / "val_256"]


def _places_open(root: Path, split: str, download: bool) -> ImageSource:
    from torchvision.datasets import Places365

    ds = Places365(str(root), split=_PLACES_SPLIT[split], small=True, download=download)
    idx_to_class = {v: k for k, v in ds.class_to_idx.items()}
    # Category names look like "/a/airfield" or "/a/apartment_building/outdoor".
    labels = [None if t is None else idx_to_class[t].split("/", 2)[-1] for _, t in ds.imgs]
    return _FileSource("places365", split, [p for p, _ in ds.imgs], labels)


# PASCAL VOC 2012 (Everingham et al., IJCV 2010; the dataset of seed 001 ColorGAN), the detection image sets (ImageSets/Main): 5,717 train / 5,823 val.
def _voc_required(root: Path, split: str) -> list[Path]:
    base = root / "VOCdevkit" / "VOC2012"
    return [base / "JPEGImages", base / "ImageSets" / "Main" / f"{split}.txt"]


def _voc_open(root: Path, split: str, download: bool) -> ImageSource:
    from torchvision.datasets import VOCDetection

    ds = VOCDetection(str(root), year="2012", image_set=split, download=download)
    return _FileSource("voc", split, list(ds.images), None)


# CelebA aligned faces (Liu et al., "Deep learning face attributes in the wild", ICCV 2015): 162,770 train / 19,867 val / 19,962 test.
_CELEBA_PART = {"train": "0", "val": "1", "test": "2"}


def _celeba_required(root: Path, split: str) -> list[Path]:
    base = root / "celeba"
    return [base / "img_align_celeba", base / "list_eval_partition.txt"]


def _celeba_open(root: Path, split: str, download: bool) -> ImageSource:
    base = root / "celeba"
    if download:
        from torchvision.datasets import CelebA

        CelebA(str(root), split="all", target_type=[], download=True)
    # Only the images and the partition file are needed: read the partition ourselves
    # (torchvision's class also insists on the attribute, identity and landmark files).
    paths = []
    with open(base / "list_eval_partition.txt") as fh:
        for line in fh:
            fields = line.split()
            if len(fields) == 2 and fields[1] == _CELEBA_PART[split]:
                paths.append(str(base / "img_align_celeba" / fields[0]))
    return _FileSource("celeba", split, paths, None)


_TORCHVISION: dict[str, _Torchvision] = {
    "cifar10": _Torchvision(
        "CIFAR-10, 32x32 photos in 10 classes (torchvision)",
        {"train": 50_000, "test": 10_000},
        _cifar_required,
        lambda r: (
            "download cifar-10-python.tar.gz from https://www.cs.toronto.edu/~kriz/cifar.html and "
            f"unpack it in {r} (so that {r / 'cifar-10-batches-py' / 'data_batch_1'} exists)"
        ),
        _cifar_open,
    ),
    "places365": _Torchvision(
        "Places365-Standard scenes, 256x256 (torchvision)",
        {"train": 1_803_460, "val": 36_500},
        _places_required,
        lambda r: (
            "download filelist_places365-standard.tar and val_256.tar (and/or "
            "train_256_places365standard.tar) from http://data.csail.mit.edu/places/places365/ and "
            f"unpack them in {r} (so that {r / 'categories_places365.txt'} and {r / 'val_256'} exist; "
            "rename the train folder data_256 to data_256_standard)"
        ),
        _places_open,
    ),
    "voc": _Torchvision(
        "PASCAL VOC 2012 photos (torchvision VOCDetection)",
        {"train": 5_717, "val": 5_823},
        _voc_required,
        lambda r: (
            "download VOCtrainval_11-May-2012.tar from http://host.robots.ox.ac.uk/pascal/VOC/voc2012/ "
            f"and unpack it in {r} (so that {r / 'VOCdevkit' / 'VOC2012' / 'JPEGImages'} exists)"
        ),
        _voc_open,
    ),
    "celeba": _Torchvision(
        "CelebA aligned faces, 178x218 (torchvision)",
        {"train": 162_770, "val": 19_867, "test": 19_962},
        _celeba_required,
        lambda r: (
            "download img_align_celeba.zip and list_eval_partition.txt from "
            "https://mmlab.ie.cuhk.edu.hk/projects/CelebA.html into "
            f"{r / 'celeba'} and unzip the images there (so that "
            f"{r / 'celeba' / 'img_align_celeba' / '000001.jpg'} exists)"
        ),
        _celeba_open,
    ),
}

_NAMED = ("samples", "faces", "synthetic", *_TORCHVISION)


def _open_torchvision(name: str, split: str, download: bool, root: str | os.PathLike | None) -> ImageSource:
    spec = _TORCHVISION[name]
    if split not in spec.sizes:
        raise LessonsError(f"{name} has no {split!r} split; splits: {', '.join(spec.sizes)}")
    r = (Path(root).expanduser() if root is not None
         else _default_root(name) if download else _found_root(name, split))
    how = spec.how(r)
    missing = [p for p in spec.required(r, split) if not p.exists()]
    if missing and not download:
        raise LessonsError(
            f"{name} ({split}) is not on this machine: {missing[0]} is missing. To use it, {how}; "
            f"or let torchvision download it: open_source({name!r}, download=True) "
            "(--download on the command line where offered). Nothing is downloaded unless asked."
        )
    try:
        if download:
            r.mkdir(parents=True, exist_ok=True)
        src = spec.opener(r, split, download)
    except LessonsError:
        raise
    except Exception as e:  # noqa: BLE001 - network, checksum, missing gdown: say what to do
        verb = "download or open" if download else "open"
        raise LessonsError(
            f"could not {verb} {name} ({split}) in {r}: {type(e).__name__}: {e}. "
            f"Check the connection and the files, or {how}"
        ) from e
    if len(src) == 0:
        raise LessonsError(f"{name} ({split}) in {r} lists no images; {how}")
    return src


# --------------------------------------------------------------------------- public API
@dataclass
class SourceInfo:
    """One row of ``lessons data list``."""

    name: str
    kind: str
    description: str
    available: bool
    splits: dict[str, int] = field(default_factory=dict)  # split -> images (empty if unavailable)
    note: str = ""                                         # where the files are, or where to put them


def list_sources() -> list[SourceInfo]:
    """Every source ``open_source`` knows, with split sizes and whether it is usable here."""
    infos: list[SourceInfo] = []
    n_samples = len(sample_files())
    infos.append(SourceInfo(
        "samples", "bundled",
        "colour photos shipped in scikit-image, matplotlib and scikit-learn",
        n_samples > 0,
        {s: n_samples for s in SPLITS} if n_samples else {},
        f"the same {n_samples} photos in every split" if n_samples else "install scikit-image and matplotlib",
    ))
    n_faces = 2 * len(face_files())
    infos.append(SourceInfo(
        "faces", "bundled",
        "face crops of the bundled public-domain portraits (astronaut, Grace Hopper), and their mirror images",
        n_faces > 0,
        {s: n_faces for s in SPLITS} if n_faces else {},
        f"the same {n_faces} faces in every split" if n_faces else "install scikit-image and matplotlib",
    ))
    infos.append(SourceInfo(
        "synthetic", "generated",
        f"generated {SYNTHETIC_SIZE}x{SYNTHETIC_SIZE} landscapes with coloured shapes",
        True,
        {s: n for s, (n, _) in _SYNTHETIC_SPLITS.items()},
        "made on the fly",
    ))
    for name, spec in _TORCHVISION.items():
        roots = {s: _found_root(name, s) for s in spec.sizes}
        present = {s: n for s, n in spec.sizes.items() if has_torchvision_files(name, roots[s], s)}
        root = next((roots[s] for s in present), _default_root(name))
        pack = None if present else _pack_by_stem(name)
        if pack is not None:  # open_source(name) falls back to the course pack of that name
            infos.append(_pack_info(name, pack, note=f"torchvision's files absent: uses the pack {_short_path(pack)}"))
            continue
        infos.append(SourceInfo(
            name, "torchvision", spec.description, bool(present), present,
            f"in {root}" if present else
            f"not downloaded (no files in {root}): open_source({name!r}, download=True) fetches them",
        ))
    for name, path in _packs():
        if path.stem.lower() in _TORCHVISION and _pack_by_stem(path.stem.lower()) == path:
            continue  # listed above under the torchvision name it stands in for
        infos.append(_pack_info(name, path))
    return infos


def _pack_info(name: str, path: Path, note: str | None = None) -> SourceInfo:
    try:
        index, _, description = _zip_index(path)
    except LessonsError as e:
        return SourceInfo(name, "pack", "unreadable archive", False, {}, str(e))
    splits = {s: len(index[s]) for s in SPLITS if s in index}
    return SourceInfo(name, "pack", description or "image pack", bool(splits), splits, note or str(path))


def format_source_table(infos: Sequence[SourceInfo]) -> str:
    """An aligned text table: name, kind, images per split, and where the data is."""
    rows = [("name", "kind", "images", "available")]
    for info in infos:
        sizes = ", ".join(f"{s} {n:,}" for s, n in info.splits.items()) if info.splits else "-"
        status = ("yes" if info.available else "no") + (f" - {info.note}" if info.note else "")
        rows.append((info.name, info.kind, sizes, status))
    widths = [max(len(r[c]) for r in rows) for c in range(3)]
    lines = []
    for k, r in enumerate(rows):
        lines.append("  ".join(r[c].ljust(widths[c]) for c in range(3)) + "  " + r[3])
        if k == 0:
            lines.append("  ".join("-" * w for w in widths) + "  " + "-" * len(r[3]))
    return "\n".join(line.rstrip() for line in lines)


def open_source(source: str | os.PathLike | ImageSource, split: str = "train", *,
                download: bool = False, root: str | os.PathLike | None = None) -> ImageSource:
    """Turn a source name, folder or zip into an :class:`ImageSource` for one split.

    Args:
        source: ``"samples"``, ``"synthetic"``, ``"cifar10"``, ``"places365"``, ``"voc"``,
            ``"celeba"``, a pack name found in :func:`data_dirs` (``"scenes8"``), or the
            path of a folder / ``.zip``. An :class:`ImageSource` is returned unchanged.
        split: ``"train"``, ``"val"`` or ``"test"`` (``"valid"``/``"validation"`` mean val).
        download: torchvision datasets only: fetch the files when they are missing.
        root: torchvision datasets only: where the files are (default
            ``~/.cache/gan-lessons/<name>``).

    Raises:
        LessonsError: unknown name (the message lists the known ones), missing or empty
            folder/zip, missing split (the message lists those present), dataset files
            not on this machine (the message says where to put them).
    """
    if isinstance(source, ImageSource):
        return source
    split = _norm_split(split)
    key = os.fspath(source).strip() if isinstance(source, (str, os.PathLike)) else None
    if not key:
        raise LessonsError(f"a source must be a name or a path, got {source!r}")
    low = key.lower()
    if "+" in key and not Path(key).expanduser().exists():
        # "scenes8+flowers5": the named sources' images of this split, one after the other
        names = [n.strip() for n in key.split("+")]
        if not all(names):
            raise LessonsError(f"bad source {key!r}: join source names with '+', e.g. 'scenes8+flowers5'")
        return _ConcatSource(key, split, [open_source(n, split, download=download, root=root) for n in names])
    if low == "samples":
        return _open_samples(split)
    if low == "synthetic":
        return _SyntheticSource(split)
    if low == "faces":
        return _open_faces(split)
    if low in _TORCHVISION:
        try:
            return _open_torchvision(low, split, download, root)
        except LessonsError:
            # Offline with no torchvision files, but a course pack of the same name in the
            # data folder (../shared/data/cifar10.zip): use the pack rather than fail.
            pack = None if (download or root is not None) else _pack_by_stem(low)
            if pack is None:
                raise
            return _open_tree(pack, split, name=key)

    path = Path(key).expanduser()
    if path.exists():
        if path.is_dir() or zipfile.is_zipfile(path):
            return _open_tree(path, split)
        raise LessonsError(f"{path} is neither a folder nor a .zip archive of images")
    if "/" in key or os.sep in key or low.endswith(".zip"):
        raise LessonsError(f"no such folder or zip: {path}")
    pack = _find_pack(key)
    if pack is not None:
        return _open_tree(pack, split, name=key)
    known = list(_NAMED) + [n for n, _ in _packs()]
    raise LessonsError(
        f"unknown image source {key!r}: use one of {', '.join(known)}, or the path of a folder or a .zip "
        "laid out as <split>/<class>/image"
    )


# --------------------------------------------------------------------------- the select split
#: share of each pack's train split held out as the ``select`` set (issue 25)
SELECT_FRACTION = 0.05
#: the seed of the select split's draw (changing it changes which photos are held out)
SELECT_SEED = 25


def _select_key(path: str) -> str:
    """A photo's name for the select draw: the last three parts of its path (``split/class/
    file``), so that the draw is the same wherever the pack lies and however it is read."""
    tail = path.replace("\\", "/").rsplit(":", 1)[-1]
    return "/".join(tail.split("/")[-3:])


def select_split(source: ImageSource, fraction: float = SELECT_FRACTION,
                 seed: int = SELECT_SEED) -> tuple[list[int], list[int]]:
    """Carve the ``select`` set out of a train split, deterministically: ``(train, select)``,
    two sorted lists of indices of ``source`` that share nothing.

    Each pack of a ``"a+b"`` source gives ``round(fraction x n)`` of its n photos (at least
    one when ``fraction > 0`` and n >= 2), those whose ``sha256("{seed}:{split/class/file}")``
    is smallest: a seeded draw that does not depend on the order the photos are read in nor
    on where the pack lies, and that keeps each pack's share. The select set chooses
    checkpoints and the decoding temperature of a colorizer, so the packs' val splits and
    cbsd68 stay test photos (``ColorizationRecipe.val_split = "select"``)."""
    if not 0.0 <= fraction < 1.0:
        raise LessonsError(f"the select fraction is a share of each pack's train photos, in [0, 1), got {fraction}")
    parts = source._parts if isinstance(source, _ConcatSource) else [source]
    train: list[int] = []
    select: list[int] = []
    start = 0
    for part in parts:
        n = len(part)
        k = 0 if fraction == 0 or n < 2 else max(1, round(fraction * n))
        rank = sorted(range(n), key=lambda i: hashlib.sha256(f"{seed}:{_select_key(part.path(i))}".encode()).digest())
        chosen = set(rank[:k])
        for i in range(n):
            (select if i in chosen else train).append(start + i)
        start += n
    return train, select
