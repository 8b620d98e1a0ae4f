"""Write ``lessons_lib/data/origins.json.gz``, the packs' pinned origins that ``lessons data get`` reads.

    python tools/make_origins.py [--origins ../shared/data/origins.json] [--check]

The input is the maintainers' ``origins.json`` (format ``gan-lessons-origins/1``). The output
keeps every fact in a compact form (about a third of the size, gzipped):

* per pack: repository, commit, pack_sha256, pack_bytes (the finished zip's size), meta
  (DATASET.json), transform (imagenet1k), ``members`` (the zip's member names, in order),
  ``path_rule`` + ``paths`` (each file's path in the repository: a rule on the member name,
  ``{name}`` / ``{stem}`` / ``{cls}``, and the paths it does not give), ``blobs`` (the git
  blob SHA-1s, one string of 40 hex digits each), ``sizes``;
* ``levels``: members deflated at another level than the pack's 9. Found by recompressing
  each member of the shared zips next to origins.json: scenes8 has one member at level 6,
  which origins.json does not say, and without which scenes8 does not rebuild byte-identical;
* cifar10: its pinned zip sha256 and size, its DATASET.json, and torchvision's archive
  (name, URL, md5, size).

``lessons_lib.data.packs.load_origins`` expands it back to origins.json's form; this script
checks that the expansion gives origins.json's facts back exactly. With ``--check`` it also
rebuilds the deflated packs with ``get_packs`` from a raw-host tree made of the shared zips'
members and compares their sha256 with the pins (a minute or so).
"""
from __future__ import annotations

import argparse
import gzip
import hashlib
import json
import struct
import sys
import tempfile
import time
import zipfile
import zlib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from lessons_lib.data import packs  # noqa: E402

OUT = ROOT / "lessons_lib" / "data" / "origins.json.gz"
CIFAR10 = {
    "pack_sha256": "0b9de4ad163b21135d759a96e5b90a27ef74c27970a2d8b458ab4313006af44f",
    "pack_bytes": 51_985_038,
    "archive": {"name": "cifar-10-python.tar.gz", "url": "https://www.cs.toronto.edu/~kriz/cifar-10-python.tar.gz",
                "md5": "c58f30108f718f92721af3b95e74349a", "bytes": 170_498_071},
}


def _rule_candidates(member: str, path: str) -> list[str]:
    """Rules that turn this member name into this path (the literal parts' braces escaped)."""
    def lit(text: str) -> str:
        return text.replace("{", "{{").replace("}", "}}")

    parts = member.split("/")
    name = parts[-1]
    stem = name.rsplit(".", 1)[0]
    out = []
    if len(parts) > 1 and path.endswith(f"/{parts[-2]}/{name}"):
        out.append(lit(path[: -len(f"{parts[-2]}/{name}")]) + "{cls}/{name}")
    if path.endswith(name):
        out.append(lit(path[: -len(name)]) + "{name}")
    if path.startswith(stem):
        out.append("{stem}" + lit(path[len(stem):]))
    return out or [lit(path)]


def _path_rule(files: list[list]) -> tuple[str, dict[str, str]]:
    """The rule that gives the most paths from the member names, and the paths it misses."""
    best: tuple[str, dict[str, str]] | None = None
    for rule in _rule_candidates(files[0][0], files[0][1]):
        odd = {m: p for m, p, _, _ in files if packs._path_from_rule(rule, m) != p}
        if best is None or len(odd) < len(best[1]):
            best = (rule, odd)
    assert best is not None
    return best


def _raw_member(fh, info: zipfile.ZipInfo) -> bytes:
    """A member's compressed bytes, as stored."""
    fh.seek(info.header_offset)
    head = fh.read(30)
    name_len, extra_len = struct.unpack("<HH", head[26:30])
    fh.seek(info.header_offset + 30 + name_len + extra_len)
    return fh.read(info.compress_size)


def _deflate(data: bytes, level: int) -> bytes:
    c = zlib.compressobj(level, zlib.DEFLATED, -15)
    return c.compress(data) + c.flush()


def _odd_levels(archive: Path, level: int) -> dict[str, int]:
    """Members of ``archive`` whose stored deflate stream is not zlib's at ``level``, with the
    level that gives it (the default level 6 first)."""
    odd: dict[str, int] = {}
    with zipfile.ZipFile(archive) as zf, open(archive, "rb") as fh:
        for info in zf.infolist():
            if info.compress_type != zipfile.ZIP_DEFLATED or info.filename == "DATASET.json":
                continue
            raw, data = _raw_member(fh, info), zf.read(info)
            if _deflate(data, level) == raw:
                continue
            match = next((lv for lv in (6, 9, 8, 7, 5, 4, 3, 2, 1) if _deflate(data, lv) == raw), None)
            if match is None:
                raise SystemExit(f"{archive}:{info.filename}: no zlib level gives its deflate stream")
            odd[info.filename] = match
    return odd


def compact(origins: dict, shared: Path) -> dict:
    level = origins["zip"]["compresslevel"]
    out = {"format": origins["format"], "zip": origins["zip"], "packs": {}}
    for name, spec in origins["packs"].items():
        if "files" not in spec:  # cifar10: torchvision's download, or the shared zip
            entry = {"torchvision": spec.get("torchvision", ""), **CIFAR10}
            archive = shared / f"{name}.zip"
            if archive.is_file():
                with zipfile.ZipFile(archive) as zf:
                    entry["meta"] = json.loads(zf.read("DATASET.json"))
                entry["pack_bytes"] = archive.stat().st_size
            out["packs"][name] = entry
            continue
        files = spec["files"]
        entry = {k: v for k, v in spec.items() if k != "files"}
        rule, odd = _path_rule(files)
        entry.update(members=[f[0] for f in files], path_rule=rule, blobs="".join(f[2] for f in files),
                     sizes=[f[3] for f in files])
        if odd:
            entry["paths"] = odd
        archive = shared / f"{name}.zip"
        if "pack_bytes" not in entry and archive.is_file():
            entry["pack_bytes"] = archive.stat().st_size
        if "transform" not in spec:
            if not archive.is_file():
                raise SystemExit(f"{archive} is needed to find members deflated at another level")
            levels = _odd_levels(archive, level)
            if levels:
                entry["levels"] = levels
            print(f"{name}: {len(files)} files, path rule {rule!r} ({len(odd)} other paths), "
                  f"{len(levels)} member(s) at another level {levels or ''}")
        out["packs"][name] = entry
    return out


def check_round_trip(origins: dict, written: Path) -> None:
    back = packs.load_origins(written)
    assert back["zip"] == origins["zip"] and back["format"] == origins["format"]
    for name, spec in origins["packs"].items():
        got = back["packs"][name]
        for key, value in spec.items():
            assert got[key] == value, f"{name}: {key} differs after the round trip"
    print(f"{written}: {written.stat().st_size:,} bytes; every fact of the origins comes back")


def check_rebuild(origins: dict, shared: Path) -> None:
    """Rebuild each deflated pack with get_packs from a tree of the shared zips' members."""
    with tempfile.TemporaryDirectory() as tmp:
        tree, dest = Path(tmp, "tree"), Path(tmp, "dest")
        names = [n for n, s in origins["packs"].items() if "files" in s and "transform" not in s]
        for name in names:
            spec = origins["packs"][name]
            with zipfile.ZipFile(shared / f"{name}.zip") as zf:
                for member, path, _, _ in spec["files"]:
                    target = tree / spec["repository"] / spec["commit"] / path
                    target.parent.mkdir(parents=True, exist_ok=True)
                    target.write_bytes(zf.read(member))
        t0 = time.perf_counter()
        for name, path in zip(names, packs.get_packs(names, dest=dest, source=tree, progress=False)):
            digest = hashlib.sha256(path.read_bytes()).hexdigest()
            ok = digest == origins["packs"][name]["pack_sha256"]
            print(f"{name}: rebuilt sha256 {digest} {'== pin' if ok else '!= pin'}")
            assert ok
        print(f"rebuilt {len(names)} packs in {time.perf_counter() - t0:.1f} s")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--origins", type=Path, default=ROOT.parent / "shared" / "data" / "origins.json")
    ap.add_argument("--out", type=Path, default=OUT)
    ap.add_argument("--check", action="store_true", help="also rebuild the deflated packs and compare sha256")
    args = ap.parse_args(argv)
    origins = json.loads(args.origins.read_text())
    if origins.get("format") != "gan-lessons-origins/1":
        raise SystemExit(f"{args.origins}: format {origins.get('format')!r}, expected gan-lessons-origins/1")
    shared = args.origins.parent
    data = json.dumps(compact(origins, shared), separators=(",", ":"), sort_keys=False).encode()
    args.out.write_bytes(gzip.compress(data, 9, mtime=0))
    check_round_trip(origins, args.out)
    if args.check:
        packs._ORIGINS = packs.load_origins(args.out)
        check_rebuild(origins, shared)
    return 0


if __name__ == "__main__":
    sys.exit(main())
