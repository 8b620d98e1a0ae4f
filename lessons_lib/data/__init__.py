"""Images in, batches out: the data side of the kit.

* :mod:`.images`: :func:`load_image` opens anything image-like (paths, bytes, arrays,
  16-bit, CMYK, palette, EXIF-rotated, animated, ...) as 8-bit RGB, with clear errors.
* :mod:`.sources`: :func:`open_source` turns ``"samples"``, ``"synthetic"``, a folder, a
  ``.zip``, a data pack name or a torchvision dataset name into an :class:`ImageSource`;
  :func:`list_sources` is what ``lessons data list`` prints; :func:`data_dirs` are the
  folders searched for data packs (``../shared/data`` and :func:`user_data_dir`).
* :mod:`.packs`: ``lessons data get``: installs the data packs from their public origins,
  pinned and verified (import it directly; it is not imported here).
* :mod:`.synthetic`: generated landscapes whose colours a colorizer can learn.
* :mod:`.pairs`: colorization crops and loaders (uint8), and :func:`lab_batch`, which
  turns a batch into the model's ``(L, ab)`` on the training device.

Motion-blur kernels and blurred pairs live in ``lessons_lib.data.blur`` (import it
directly); it is not imported here so that this package stays light.
"""
from __future__ import annotations

from .images import image_to_tensor, load_image, tensor_to_image
from .pairs import ColorizationDataset, grid_image, lab_batch, make_loader, save_source_grid
from .sources import (
    IMAGE_EXTENSIONS,
    SELECT_FRACTION,
    SPLITS,
    ImageSource,
    SourceInfo,
    data_dirs,
    format_source_table,
    list_sources,
    open_source,
    select_split,
    sample_files,
    sample_photos,
    user_data_dir,
)
from .synthetic import synthetic_image, synthetic_images

__all__ = [
    "load_image",
    "image_to_tensor",
    "tensor_to_image",
    "SourceInfo",
    "ImageSource",
    "list_sources",
    "format_source_table",
    "open_source",
    "data_dirs",
    "user_data_dir",
    "sample_files",
    "sample_photos",
    "IMAGE_EXTENSIONS",
    "SPLITS",
    "select_split",
    "SELECT_FRACTION",
    "synthetic_images",
    "synthetic_image",
    "ColorizationDataset",
    "make_loader",
    "lab_batch",
    "grid_image",
    "save_source_grid",
]
