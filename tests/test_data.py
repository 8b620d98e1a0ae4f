"""Tests of lessons_lib.data: image loading, sources, synthetic images, colorization batches.

Everything is generated in tmp_path or comes from the photos bundled in installed
packages; nothing needs ../shared/data (one optional test uses it when present) and
nothing touches the network.
"""
from __future__ import annotations

import io
import socket
import struct
import zipfile
import zlib
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from lessons_lib import LessonsError
from lessons_lib.color import rgb_to_lab
from lessons_lib.data import (
    ColorizationDataset,
    ImageSource,
    SourceInfo,
    format_source_table,
    grid_image,
    image_to_tensor,
    lab_batch,
    list_sources,
    load_image,
    make_loader,
    open_source,
    save_source_grid,
    synthetic_images,
    tensor_to_image,
)


# --------------------------------------------------------------------------- helpers
def _png_bytes(img: Image.Image, **kw) -> bytes:
    buf = io.BytesIO()
    img.save(buf, format="PNG", **kw)
    return buf.getvalue()


def _save(img: Image.Image, path: Path, **kw) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    img.save(path, **kw)
    return path


def _solid(color, size=(12, 10)) -> Image.Image:
    return Image.new("RGB", size, color)


def _png_header_only(width: int, height: int) -> bytes:
    """A PNG whose header claims width x height but which has no pixel data at all."""
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)  # 8-bit RGB
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IEND", b"")


@pytest.fixture
def no_network(monkeypatch):
    """Fail loudly if anything tries to open a network connection."""
    def refuse(*args, **kwargs):
        raise AssertionError("the test tried to use the network")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(socket, "create_connection", refuse)


# --------------------------------------------------------------------------- load_image
def test_load_image_plain_rgb_from_path_bytes_and_file(tmp_path):
    img = _solid((10, 200, 30))
    p = _save(img, tmp_path / "a.png")
    for src in (p, str(p), p.read_bytes(), io.BytesIO(p.read_bytes())):
        out = load_image(src)
        assert out.mode == "RGB" and out.size == (12, 10)
        assert out.getpixel((3, 3)) == (10, 200, 30)


def test_load_image_corrupt_bytes_names_the_file(tmp_path):
    bad = tmp_path / "bad.jpg"
    bad.write_bytes(b"this is not an image at all" * 10)
    with pytest.raises(LessonsError, match=r"bad\.jpg is not a readable image"):
        load_image(bad)
    with pytest.raises(LessonsError, match="not a readable image"):
        load_image(b"\x00\x01garbage")


def test_load_image_truncated_jpeg(tmp_path):
    rng = np.random.default_rng(0)
    img = Image.fromarray(rng.integers(0, 256, (64, 64, 3), dtype=np.uint8))
    full = tmp_path / "full.jpg"
    img.save(full, quality=90)
    cut = tmp_path / "cut.jpg"
    cut.write_bytes(full.read_bytes()[: full.stat().st_size // 2])
    with pytest.raises(LessonsError, match=r"cut\.jpg is not a readable image"):
        load_image(cut)


def test_load_image_missing_file_and_folder(tmp_path):
    with pytest.raises(LessonsError, match="does not exist"):
        load_image(tmp_path / "nope.png")
    with pytest.raises(LessonsError, match="is a folder"):
        load_image(tmp_path)


def test_load_image_grayscale_L(tmp_path):
    arr = np.arange(0, 240, 2, dtype=np.uint8).reshape(10, 12)
    p = _save(Image.fromarray(arr), tmp_path / "g.png")
    out = np.asarray(load_image(p))
    assert out.shape == (10, 12, 3)
    for c in range(3):
        np.testing.assert_array_equal(out[..., c], arr)


def test_load_image_16bit_png_is_scaled_not_clipped(tmp_path):
    levels = np.array([[0, 257 * 10, 257 * 128, 65535]], dtype=np.uint16)
    arr = np.repeat(levels, 4, axis=0)  # (4, 4)
    p = _save(Image.fromarray(arr), tmp_path / "deep.png")
    with Image.open(p) as check:
        assert check.mode.startswith("I")  # Pillow reads it back as 16-bit (I;16 or I)
    out = np.asarray(load_image(p))
    np.testing.assert_array_equal(out[0, :, 0], [0, 10, 128, 255])  # v * 255 / 65535
    assert (out[..., 0] == out[..., 1]).all() and (out[..., 1] == out[..., 2]).all()


def test_load_image_rgba_composited_on_white():
    arr = np.zeros((2, 3, 4), dtype=np.uint8)
    arr[0, 0] = (255, 0, 0, 0)      # fully transparent red -> white
    arr[0, 1] = (0, 0, 255, 255)    # opaque blue stays blue
    arr[0, 2] = (0, 0, 0, 128)      # half-transparent black -> mid gray
    out = np.asarray(load_image(_png_bytes(Image.fromarray(arr))))
    assert tuple(out[0, 0]) == (255, 255, 255)
    assert tuple(out[0, 1]) == (0, 0, 255)
    assert all(abs(int(v) - 127) <= 1 for v in out[0, 2])  # 255 * (1 - 128/255)


def test_load_image_la_mode():
    img = Image.new("LA", (4, 4), (50, 0))  # fully transparent dark gray
    out = np.asarray(load_image(_png_bytes(img)))
    assert (out == 255).all()


def test_load_image_palette_with_transparency():
    img = Image.new("P", (4, 2), 0)
    img.putpalette([0, 0, 0, 255, 0, 0] + [0] * (256 * 3 - 6))
    img.paste(1, (2, 0, 4, 2))  # right half: index 1 = red
    data = _png_bytes(img, transparency=0)  # index 0 (black) is transparent
    out = np.asarray(load_image(data))
    assert tuple(out[0, 0]) == (255, 255, 255)
    assert tuple(out[0, 3]) == (255, 0, 0)


def test_load_image_cmyk_jpeg(tmp_path):
    cmyk = Image.new("CMYK", (16, 16), (0, 255, 255, 0))  # no cyan, full magenta+yellow: red
    p = _save(cmyk, tmp_path / "print.jpg", quality=95)
    with Image.open(p) as check:
        assert check.mode == "CMYK"
    r, g, b = load_image(p).getpixel((8, 8))
    assert r > 220 and g < 40 and b < 40


def test_load_image_animated_gif_first_frame(tmp_path):
    frames = [_solid((255, 0, 0), (8, 8)), _solid((0, 0, 255), (8, 8))]
    p = tmp_path / "anim.gif"
    frames[0].save(p, save_all=True, append_images=frames[1:], duration=100, loop=0)
    with Image.open(p) as check:
        assert check.n_frames == 2
    r, g, b = load_image(p).getpixel((4, 4))
    assert r > 200 and b < 50


def test_load_image_exif_orientation(tmp_path):
    arr = np.zeros((20, 40, 3), dtype=np.uint8)  # stored 40 wide, 20 high
    arr[:, :20] = (255, 0, 0)   # left half red
    arr[:, 20:] = (0, 0, 255)   # right half blue
    img = Image.fromarray(arr)
    exif = Image.Exif()
    exif[0x0112] = 6  # Orientation 6: display after rotating 90 degrees clockwise
    p = _save(img, tmp_path / "phone.jpg", exif=exif.tobytes(), quality=95)
    out = load_image(p)
    assert out.size == (20, 40)  # rotated: now 20 wide, 40 high
    top, bottom = out.getpixel((10, 5)), out.getpixel((10, 34))
    assert top[0] > 200 and top[2] < 60       # the stored left (red) is now on top
    assert bottom[2] > 200 and bottom[0] < 60


def test_load_image_too_many_pixels_checked_before_decoding(tmp_path):
    # The header claims 10000 x 6000 but there is no pixel data: had the loader tried to
    # decode, it would fail as "not readable"; the size check must come first.
    p = tmp_path / "huge.png"
    p.write_bytes(_png_header_only(10_000, 6_000))
    with pytest.raises(LessonsError, match=r"10000x6000 = 60,000,000 pixels.*limit of 50,000,000"):
        load_image(p)
    small = _png_bytes(_solid((1, 2, 3), (16, 16)))
    with pytest.raises(LessonsError, match=r"256 pixels, more than the limit of 100"):
        load_image(small, max_pixels=100)
    # Past Pillow's own bomb limit the error is still ours, not a Pillow traceback.
    with pytest.raises(LessonsError, match="too large"):
        load_image(_png_header_only(30_000, 30_000), max_pixels=10**10)


def test_load_image_numpy_arrays():
    u16 = np.array([[0, 65535]], dtype=np.uint16)
    np.testing.assert_array_equal(np.asarray(load_image(u16))[0, :, 0], [0, 255])
    f = np.zeros((2, 2, 3), dtype=np.float32)
    f[0, 0] = (1.0, 0.5, 0.0)
    assert load_image(f).getpixel((0, 0)) == (255, 128, 0)
    rgba = np.zeros((1, 1, 4), dtype=np.uint8)  # transparent -> white
    assert load_image(rgba).getpixel((0, 0)) == (255, 255, 255)
    with pytest.raises(LessonsError, match=r"shape \(H, W\)"):
        load_image(np.zeros((2, 2, 5), dtype=np.uint8))


def test_load_image_rejects_unknown_type():
    with pytest.raises(LessonsError, match="cannot load an image from a int"):
        load_image(42)


def test_tensor_image_roundtrip():
    t = torch.randint(0, 256, (3, 5, 7), dtype=torch.uint8)
    img = tensor_to_image(t)
    assert img.size == (7, 5)
    assert torch.equal(image_to_tensor(img), t)
    assert torch.equal(image_to_tensor(tensor_to_image(t.unsqueeze(0))), t)
    f = torch.tensor([0.0, 0.5, 1.0, 2.0]).view(1, 1, 4).expand(3, 1, 4)
    np.testing.assert_array_equal(np.asarray(tensor_to_image(f))[0, :, 0], [0, 128, 255, 255])
    with pytest.raises(ValueError, match=r"\(3, H, W\)"):
        tensor_to_image(torch.zeros(2, 4, 4))
    with pytest.raises(ValueError, match="batch"):
        tensor_to_image(torch.zeros(2, 3, 4, 4))


# --------------------------------------------------------------------------- synthetic
def test_synthetic_images_shape_determinism_and_colour():
    a = synthetic_images(6, size=32, seed=0)
    assert a.shape == (6, 3, 32, 32) and a.dtype == torch.uint8
    assert torch.equal(a, synthetic_images(6, size=32, seed=0))
    assert torch.equal(a[:3], synthetic_images(3, size=32, seed=0))  # image i depends on (seed, i) only
    assert not torch.equal(a, synthetic_images(6, size=32, seed=1))
    assert not torch.equal(a[0], a[1])
    lab = rgb_to_lab(synthetic_images(16, size=32, seed=3))
    ab = lab[:, 1:]
    assert ab.abs().mean() > 10  # colourful, not gray
    # colour follows the scene: the top rows are sky, so blue (b* < 0) on average
    assert lab[:, 2, :2].mean() < -15
    assert lab[:, 0].std() > 10  # structure in luminance too


def test_synthetic_rejects_bad_arguments():
    with pytest.raises(ValueError):
        synthetic_images(-1)
    with pytest.raises(ValueError):
        synthetic_images(2, size=4)
    assert synthetic_images(0, size=16).shape == (0, 3, 16, 16)


# --------------------------------------------------------------------------- named sources
def test_samples_has_at_least_ten_colour_photos():
    src = open_source("samples")
    assert isinstance(src, ImageSource) and len(src) >= 10
    names = [src.label(i) for i in range(len(src))]
    assert len(set(names)) == len(names) and "astronaut" in names and "grace_hopper" in names
    for i in range(len(src)):
        img = src[i]
        assert img.mode == "RGB"
        small = np.asarray(img.resize((128, 128))).astype(int)
        # a gray photo stored as RGB has max - min = 0 everywhere; ask for some colour
        # (the Hubble deep field is mostly black sky: about 3% coloured pixels)
        coloured = ((small.max(axis=2) - small.min(axis=2)) > 20).mean()
        assert coloured > 0.02, f"{names[i]} looks gray ({coloured:.1%} coloured pixels)"
    # a tiny set: every split holds the same photos
    assert [open_source("samples", "val").path(i) for i in range(len(src))] == [src.path(i) for i in range(len(src))]


def test_synthetic_source_splits():
    tr, va, te = (open_source("synthetic", s) for s in ("train", "val", "test"))
    assert (len(tr), len(va), len(te)) == (256, 64, 64)
    assert tr[0].size == (64, 64) and tr[0].mode == "RGB"
    assert not np.array_equal(np.asarray(tr[0]), np.asarray(va[0]))
    np.testing.assert_array_equal(np.asarray(tr[5]), synthetic_images(6, size=64, seed=0)[5].permute(1, 2, 0).numpy())


def test_unknown_source_lists_known_ones():
    with pytest.raises(LessonsError) as e:
        open_source("imagenet-please")
    msg = str(e.value)
    for known in ("samples", "synthetic", "cifar10", "places365", "voc", "celeba"):
        assert known in msg


def test_unknown_split():
    with pytest.raises(LessonsError, match="use one of train, val, test"):
        open_source("synthetic", "holdout")
    assert open_source("synthetic", "validation").split == "val"


@pytest.mark.parametrize("name", ["cifar10", "places365", "voc", "celeba"])
def test_torchvision_offline_says_where_to_put_files(name, tmp_path, no_network):
    split = "train"
    with pytest.raises(LessonsError) as e:
        open_source(name, split, root=tmp_path)
    msg = str(e.value)
    assert str(tmp_path) in msg and "download=True" in msg and "is missing" in msg


def test_torchvision_default_root_is_in_the_cache(tmp_path, monkeypatch, no_network):
    monkeypatch.setenv("HOME", str(tmp_path))
    empty = tmp_path / "no-packs"
    empty.mkdir()
    monkeypatch.setenv("LESSONS_DATA", str(empty))  # no cifar10.zip pack to fall back on
    with pytest.raises(LessonsError, match=str(tmp_path / ".cache" / "gan-lessons" / "cifar10")):
        open_source("cifar10")
    with pytest.raises(LessonsError, match="no 'val' split; splits: train, test"):
        open_source("cifar10", "val")


@pytest.mark.slow  # imports torchvision.datasets (a few seconds on a busy 2-core machine)
def test_torchvision_corrupt_files_give_a_clear_error(tmp_path, no_network):
    base = tmp_path / "cifar-10-batches-py"
    base.mkdir()
    for f in [f"data_batch_{k}" for k in range(1, 6)] + ["test_batch", "batches.meta"]:
        (base / f).write_bytes(b"junk")
    with pytest.raises(LessonsError, match=r"could not open cifar10 \(train\).*cifar-10-python\.tar\.gz"):
        open_source("cifar10", root=tmp_path)


# --------------------------------------------------------------------------- folders and zips
def _make_tree(root: Path, layout: dict[str, tuple]) -> None:
    """layout: relative path -> RGB colour of a small PNG."""
    for rel, color in layout.items():
        _save(_solid(color, (20, 16)), root / rel)


_SPLIT_LAYOUT = {
    "train/cat/a.png": (255, 0, 0),
    "train/cat/b.png": (250, 10, 0),
    "train/dog/c.png": (0, 255, 0),
    "val/cat/d.png": (0, 0, 255),
}
_FLAT_LAYOUT = {"cat/a.png": (255, 0, 0), "dog/b.png": (0, 255, 0), "dog/c.png": (0, 0, 255)}


def _zip_tree(folder: Path, archive: Path, prefix: str = "") -> Path:
    with zipfile.ZipFile(archive, "w") as zf:
        for p in sorted(folder.rglob("*")):
            if p.is_file():
                zf.write(p, prefix + p.relative_to(folder).as_posix())
    return archive


@pytest.mark.filterwarnings("ignore:.*outside the train/val/test folders:UserWarning")
def test_folder_with_splits(tmp_path):
    _make_tree(tmp_path / "ds", _SPLIT_LAYOUT)
    (tmp_path / "ds" / "train" / "notes.txt").write_text("not an image")
    _save(_solid((9, 9, 9)), tmp_path / "ds" / "extra" / "e.png")  # outside the split folders
    with pytest.warns(UserWarning, match=r"1 image\(s\) outside the train/val/test folders are ignored"):
        tr = open_source(tmp_path / "ds", "train")
    assert len(tr) == 3 and tr.split == "train" and tr.name == "ds"
    assert [tr.label(i) for i in range(3)] == ["cat", "cat", "dog"]
    assert tr[2].getpixel((0, 0)) == (0, 255, 0)
    va = open_source(str(tmp_path / "ds"), "val")
    assert len(va) == 1 and va[0].getpixel((0, 0)) == (0, 0, 255)
    with pytest.raises(LessonsError, match=r"no 'test' split; splits present: train \(3 images\), val \(1 images\)"):
        open_source(tmp_path / "ds", "test")


def test_folder_without_splits_is_all_train(tmp_path):
    _make_tree(tmp_path / "flat", _FLAT_LAYOUT)
    src = open_source(tmp_path / "flat")
    assert len(src) == 3 and [src.label(i) for i in range(3)] == ["cat", "dog", "dog"]
    with pytest.raises(LessonsError, match="every image is in 'train'"):
        open_source(tmp_path / "flat", "val")


def test_zip_with_wrapper_folder_and_splits(tmp_path, monkeypatch):
    _make_tree(tmp_path / "ds", _SPLIT_LAYOUT)
    archive = _zip_tree(tmp_path / "ds", tmp_path / "pack.zip", prefix="mypack/")
    # Opening must read only the names: count what zipfile reads.
    opened: list[str] = []
    real_open = zipfile.ZipFile.open

    def spy(self, name, *a, **k):
        opened.append(name if isinstance(name, str) else name.filename)
        return real_open(self, name, *a, **k)

    monkeypatch.setattr(zipfile.ZipFile, "open", spy)
    tr = open_source(archive, "train")
    assert opened == []
    assert len(tr) == 3 and [tr.label(i) for i in range(3)] == ["cat", "cat", "dog"]
    assert tr[2].getpixel((0, 0)) == (0, 255, 0)
    assert opened == ["mypack/train/dog/c.png"]
    assert tr.path(2).endswith("pack.zip:mypack/train/dog/c.png")
    assert len(open_source(archive, "val")) == 1
    assert sorted(p.name for p in tmp_path.iterdir()) == ["ds", "pack.zip"]  # nothing extracted


def test_zip_without_splits(tmp_path):
    _make_tree(tmp_path / "flat", _FLAT_LAYOUT)
    archive = _zip_tree(tmp_path / "flat", tmp_path / "flat.zip")
    src = open_source(str(archive))
    assert len(src) == 3 and src.label(0) == "cat"
    with pytest.raises(LessonsError, match="splits present: train"):
        open_source(archive, "test")


def test_corrupt_file_in_folder_is_skipped_with_warning(tmp_path):
    _make_tree(tmp_path / "ds", {"train/x/a_good.png": (255, 0, 0), "train/x/c_good.png": (0, 0, 255)})
    (tmp_path / "ds" / "train" / "x" / "b_bad.jpg").write_bytes(b"\xff\xd8\xff garbage")
    src = open_source(tmp_path / "ds")
    assert len(src) == 3
    with pytest.warns(UserWarning, match=r"b_bad\.jpg"):
        img = src[1]
    assert img.getpixel((0, 0)) == (0, 0, 255)  # the next good image takes its place
    images = [src[i] for i in range(len(src))]  # a whole epoch runs through
    assert all(im.mode == "RGB" for im in images)


def test_corrupt_member_in_zip_is_skipped_with_warning(tmp_path):
    archive = tmp_path / "p.zip"
    with zipfile.ZipFile(archive, "w") as zf:
        zf.writestr("train/x/a.png", b"not a png")
        zf.writestr("train/x/b.png", _png_bytes(_solid((0, 255, 0))))
    src = open_source(archive)
    with pytest.warns(UserWarning, match=r"p\.zip:train/x/a\.png"):
        assert src[0].getpixel((0, 0)) == (0, 255, 0)


def test_all_files_corrupt_is_an_error(tmp_path):
    (tmp_path / "ds").mkdir()
    (tmp_path / "ds" / "a.png").write_bytes(b"nope")
    src = open_source(tmp_path / "ds")
    with pytest.warns(UserWarning), pytest.raises(LessonsError, match="could be read"):
        src[0]


def test_empty_and_missing_sources(tmp_path):
    (tmp_path / "empty").mkdir()
    with pytest.raises(LessonsError, match="contains no images"):
        open_source(tmp_path / "empty")
    with zipfile.ZipFile(tmp_path / "empty.zip", "w") as zf:
        zf.writestr("README.txt", "nothing here")
    with pytest.raises(LessonsError, match="contains no images"):
        open_source(tmp_path / "empty.zip")
    with pytest.raises(LessonsError, match="no such folder or zip"):
        open_source(tmp_path / "missing")
    with pytest.raises(LessonsError, match="no such folder or zip"):
        open_source("missing.zip")
    (tmp_path / "notzip.zip").write_text("plain text")
    with pytest.raises(LessonsError, match="neither a folder nor a .zip"):
        open_source(tmp_path / "notzip.zip")


def test_pack_name_and_list_sources(tmp_path, monkeypatch):
    _make_tree(tmp_path / "ds", _SPLIT_LAYOUT)
    data = tmp_path / "data"
    data.mkdir()
    _zip_tree(tmp_path / "ds", data / "mini.zip")
    _zip_tree(tmp_path / "ds", data / "synthetic.zip")  # collides with a named source
    monkeypatch.setenv("LESSONS_DATA", str(data))
    monkeypatch.setenv("HOME", str(tmp_path))
    src = open_source("mini", "val")
    assert len(src) == 1 and src.name == "mini"
    infos = {i.name: i for i in list_sources()}
    assert infos["mini"].splits == {"train": 3, "val": 1} and infos["mini"].kind == "pack"
    assert infos["samples"].available and infos["samples"].splits["train"] >= 10
    assert infos["synthetic"].splits == {"train": 256, "val": 64, "test": 64}
    assert not infos["cifar10"].available and infos["cifar10"].splits == {}
    assert "download=True" in infos["cifar10"].note
    clash = [i for i in infos.values() if i.kind == "pack" and i.name.endswith("synthetic.zip")]
    assert len(clash) == 1 and len(open_source(clash[0].name)) == 3  # listed by its path, which opens


def test_format_source_table_is_aligned():
    infos = [
        SourceInfo("samples", "bundled", "d", True, {"train": 12}, "note"),
        SourceInfo("a-much-longer-name", "pack", "d", False, {}, "missing"),
    ]
    lines = format_source_table(infos).splitlines()
    assert lines[0].split()[:4] == ["name", "kind", "images", "available"]
    col = lines[0].index("kind")
    assert all(line[col - 2:col] == "  " for line in lines)
    assert lines[2].split()[1] == "bundled" and lines[2][col:].startswith("bundled")
    assert lines[3][col:].startswith("pack") and "no - missing" in lines[3]
    assert "train 12" in lines[2]


@pytest.mark.skipif(not Path(__file__).resolve().parents[2].joinpath("shared/data/scenes8.zip").exists(),
                    reason="../shared/data/scenes8.zip is not on this machine")
def test_scenes8_pack_split_sizes():
    archive = Path(__file__).resolve().parents[2] / "shared" / "data" / "scenes8.zip"
    tr, va = open_source(archive, "train"), open_source(archive, "val")
    assert (len(tr), len(va)) == (1542, 101)
    assert va[0].mode == "RGB" and va.label(0) == "airport"


# --------------------------------------------------------------------------- colorization pairs
def _ramp_source(tmp_path: Path, width=32, height=16) -> ImageSource:
    """One image whose red channel is 8 * column: crops can be located exactly."""
    arr = np.zeros((height, width, 3), dtype=np.uint8)
    arr[..., 0] = (np.arange(width) * 8)[None, :]
    arr[..., 1] = 100
    _save(Image.fromarray(arr), tmp_path / "ramp" / "r.png")
    return open_source(tmp_path / "ramp")


def test_colorization_dataset_centre_crop_exact(tmp_path):
    ds = ColorizationDataset(_ramp_source(tmp_path), size=16, train=False)
    x = ds[0]
    assert x.shape == (3, 16, 16) and x.dtype == torch.uint8
    # short side already 16: no resize; centre crop starts at column (32 - 16) // 2 = 8
    assert x[0, 0].tolist() == [8 * c for c in range(8, 24)]


def test_colorization_dataset_random_crop_and_flip_are_seeded(tmp_path):
    ds = ColorizationDataset(_ramp_source(tmp_path), size=16, train=True)
    offsets, flips = set(), set()
    for seed in range(40):
        x = ds[(0, seed)]
        assert torch.equal(x, ds[(0, seed)])  # same seed, same crop
        row = x[0, 0].tolist()
        flipped = row[0] > row[-1]
        cols = [v // 8 for v in (row[::-1] if flipped else row)]
        assert cols == list(range(cols[0], cols[0] + 16))  # a contiguous window of the ramp
        offsets.add(cols[0])
        flips.add(flipped)
    assert flips == {True, False} and len(offsets) >= 8 and offsets <= set(range(17))


def test_colorization_dataset_resizes_short_side_and_upscales_small(tmp_path):
    _save(_solid((200, 100, 50), (10, 6)), tmp_path / "tiny" / "t.png")
    ds = ColorizationDataset(str(tmp_path / "tiny"), size=24, train=False)
    x = ds[0]
    assert x.shape == (3, 24, 24)
    assert x[:, 12, 12].tolist() == [200, 100, 50]
    big = ColorizationDataset("synthetic", size=16, train=True, split="val", load_size=20)
    assert big[(0, 1)].shape == (3, 16, 16) and len(big) == 64
    with pytest.raises(LessonsError, match="load_size"):
        ColorizationDataset("synthetic", size=16, load_size=8)


def test_make_loader_reproducible_and_limited():
    def batches(seed):
        loader = make_loader("synthetic", size=16, batch_size=4, seed=seed, limit=10)
        return [b for b in loader]

    a, b, c = batches(0), batches(0), batches(1)
    assert len(a) == 2  # 10 images, batches of 4, the last partial batch dropped when training
    assert a[0].shape == (4, 3, 16, 16) and a[0].dtype == torch.uint8
    assert all(torch.equal(x, y) for x, y in zip(a, b))
    assert not torch.equal(a[0], c[0])
    # evaluation: in order, centre crops, the last partial batch kept
    ev = list(make_loader("synthetic", 16, 4, split="val", train=False, limit=6))
    assert [len(x) for x in ev] == [4, 2]
    ds = ColorizationDataset("synthetic", 16, train=False, split="val")
    assert torch.equal(ev[1][1], ds[5])


def test_make_loader_epochs_differ_but_runs_repeat():
    loader = make_loader("synthetic", 16, 8, seed=5, limit=8)
    e1, e2 = next(iter(loader)), next(iter(loader))
    assert not torch.equal(e1, e2)
    again = make_loader("synthetic", 16, 8, seed=5, limit=8)
    assert torch.equal(next(iter(again)), e1)


def test_make_loader_varies_crops_per_epoch_reproducibly(tmp_path):
    src = _ramp_source(tmp_path)  # one 32x16 image: crops can move and flip

    def epochs(seed):
        loader = make_loader(src, 16, 1, seed=seed)
        return [next(iter(loader))[0] for _ in range(8)]

    a, b = epochs(7), epochs(7)
    assert all(torch.equal(x, y) for x, y in zip(a, b))
    assert len({tuple(x[0, 0].tolist()) for x in a}) >= 3  # the crop differs between epochs


def test_make_loader_bad_arguments():
    with pytest.raises(LessonsError, match="no batch would be made"):
        make_loader("synthetic", 16, 8, limit=4, drop_last=True)
    with pytest.raises(LessonsError, match="batch_size"):
        make_loader("synthetic", 16, 0)
    with pytest.raises(LessonsError, match="limit"):
        make_loader("synthetic", 16, 4, limit=0)
    # fewer images than one batch while training: keep them rather than yield nothing
    assert [len(b) for b in make_loader("synthetic", 16, 8, limit=3)] == [3]


def test_lab_batch_matches_skimage():
    from skimage.color import rgb2lab

    g = torch.Generator().manual_seed(0)
    rgb = torch.cat([torch.randint(0, 256, (2, 3, 8, 8), dtype=torch.uint8, generator=g),
                     synthetic_images(2, size=8, seed=0)])
    L, ab = lab_batch(rgb)
    assert L.shape == (4, 1, 8, 8) and ab.shape == (4, 2, 8, 8) and L.dtype == torch.float32
    lab = torch.cat([(L + 1.0) * 50.0, ab * 110.0], dim=1).double()  # de-normalise by hand
    for i in range(4):
        ref = rgb2lab(rgb[i].permute(1, 2, 0).numpy())  # (H, W, 3) float64
        np.testing.assert_allclose(lab[i].permute(1, 2, 0).numpy(), ref, atol=1e-3)
    # float input in [0, 1] gives the same
    L2, ab2 = lab_batch(rgb.float() / 255.0, device="cpu")
    torch.testing.assert_close(L2, L, atol=1e-4, rtol=0)
    torch.testing.assert_close(ab2, ab, atol=1e-4, rtol=0)


def test_lab_batch_rgb_mode():
    rgb = synthetic_images(3, size=8, seed=2)
    gray3, target = lab_batch(rgb, color_space="rgb")
    assert gray3.shape == target.shape == (3, 3, 8, 8)
    torch.testing.assert_close(target, rgb.float() / 127.5 - 1.0)
    assert torch.equal(gray3[:, 0], gray3[:, 1]) and torch.equal(gray3[:, 1], gray3[:, 2])
    assert gray3.min() >= -1 and gray3.max() <= 1
    # the gray image keeps L* and drops the colour
    lab_gray = rgb_to_lab((gray3 + 1) / 2)
    torch.testing.assert_close(lab_gray[:, 0], rgb_to_lab(rgb)[:, 0], atol=0.05, rtol=0)
    assert lab_gray[:, 1:].abs().max() < 0.05


def test_lab_batch_rejects_bad_input():
    with pytest.raises(ValueError, match=r"\(B, 3, H, W\)"):
        lab_batch(torch.zeros(3, 8, 8, dtype=torch.uint8))
    with pytest.raises(ValueError, match="color_space"):
        lab_batch(torch.zeros(1, 3, 8, 8, dtype=torch.uint8), color_space="hsv")
    with pytest.raises(TypeError):
        lab_batch(np.zeros((1, 3, 8, 8), dtype=np.uint8))


# --------------------------------------------------------------------------- grids
def test_grid_image_layout():
    imgs = torch.zeros(5, 3, 4, 6, dtype=torch.uint8)
    imgs[3] = 200
    g = grid_image(imgs, nrow=3, pad=1)
    assert g.size == (3 * 6 + 4, 2 * 4 + 3)  # (width, height)
    a = np.asarray(g)
    assert (a[0] == 255).all()                       # white padding
    assert (a[1:5, 1:7] == 0).all()                  # tile 0
    assert (a[6:10, 1:7] == 200).all()               # tile 3: row 1, column 0
    assert (a[6:10, 15:21] == 255).all()             # no 6th image: left white
    f = grid_image(torch.ones(1, 3, 2, 2) * 0.5, pad=0)
    assert np.asarray(f).tolist() == [[[128] * 3] * 2] * 2
    with pytest.raises(ValueError):
        grid_image(torch.zeros(2, 4, 4, 4))


def test_save_source_grid(tmp_path):
    out = save_source_grid("synthetic", tmp_path / "sub" / "grid.png", n=10, size=16, seed=1)
    assert out.exists()
    with Image.open(out) as g:
        assert g.size == (8 * 16 + 9 * 2, 2 * 16 + 3 * 2)
    again = save_source_grid("synthetic", tmp_path / "grid2.png", n=10, size=16, seed=1)
    assert again.read_bytes() == out.read_bytes()
    with pytest.raises(LessonsError, match="unknown image format"):
        save_source_grid("synthetic", tmp_path / "grid.xyz", n=2, size=16)
    with pytest.raises(LessonsError, match="at least 1"):
        save_source_grid("synthetic", tmp_path / "g.png", n=0)


def test_torchvision_name_falls_back_to_a_pack_of_the_same_name(tmp_path, monkeypatch, no_network):
    """Offline, 'cifar10' without torchvision's files uses <data dir>/cifar10.zip when present."""
    import zipfile as _zip

    from PIL import Image as _Image

    monkeypatch.setenv("HOME", str(tmp_path))
    packs = tmp_path / "packs"
    packs.mkdir()
    with _zip.ZipFile(packs / "cifar10.zip", "w") as z:
        for split, n in (("train", 3), ("test", 2)):
            for i in range(n):
                buf = io.BytesIO()
                _Image.new("RGB", (32, 32), (10 * i, 80, 200)).save(buf, "PNG")
                z.writestr(f"{split}/cat/{i}.png", buf.getvalue())
    monkeypatch.setenv("LESSONS_DATA", str(packs))
    src = open_source("cifar10", "test")
    assert len(src) == 2 and src[0].size == (32, 32)
    # asking for a download, or a root of one's own, never silently uses the pack
    with pytest.raises(LessonsError, match="is missing"):
        open_source("cifar10", "test", root=tmp_path / "tv")


def test_image_to_tensor_of_a_one_pixel_wide_image_is_writable():
    """NumPy needs no copy for a 1-pixel-wide image; the tensor must not share Pillow's
    read-only buffer (torch warns that writing to it is undefined)."""
    import warnings

    from lessons_lib.data import image_to_tensor

    for size in ((1, 1), (1, 7)):
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            t = image_to_tensor(Image.new("RGB", size, (5, 6, 7)))
        t[0, 0, 0] = 1
        assert tuple(t.shape) == (3, size[1], size[0]) and t[:, 0, 0].tolist() == [1, 6, 7]
