"""Motion blur: random camera-shake kernels, a fixed kernel bank, blurred/sharp pairs.

A photo taken while the camera moves is the sharp image convolved with the path the
camera drew during the exposure (its point-spread function, PSF):

    y = k * x + n                      (* = 2-D convolution, k >= 0, sum(k) = 1)

The kernels here follow Boracchi & Foi, "Modeling the performance of image restoration
from motion blur", IEEE TIP 2012 (their ``createTrajectory`` / ``createPSFs``), the
generator DeblurGAN (Kupyn et al., CVPR 2018) uses for its synthetic training pairs and
the restorer seed (``seeds/004``, after Rim et al. ECCV 2020) uses to draw its 1,000
71x71 kernels:

1. ``trajectory``: a 2-D random walk of ``n_points`` steps of equal length
   ``length / (n_points - 1)`` (so the path is exactly ``length`` pixels long) in which the
   velocity ``v`` has *inertia* (it is updated, not redrawn) and at each step

       dv = shake + anxiety * (g * (e1 + i e2) - c * x_t) * step,   e1, e2 ~ N(0, 1)
       v  <- (v + dv) / |v + dv| * step,      x_{t+1} = x_t + v

   (positions as complex numbers x + iy), where ``g * (e1 + i e2)`` is Gaussian jitter,
   ``- c * x_t`` a *centripetal* pull back toward the start, and ``shake`` an *impulsive*
   jerk ``2 v exp(i (pi + u - 1/2))`` (roughly reversing the motion) that happens with
   probability ``p_big * anxiety``. Per trajectory ``c ~ 0.7 U``, ``p_big ~ 0.2 U``,
   ``g ~ 10 U``, the start direction ``~ 2 pi U`` (the constants of Boracchi & Foi's code
   and of DeblurGAN) and, unless given, the anxiety is drawn from DeblurGAN's list
   {0.003, 0.005, 0.007, 0.008, 0.009, 0.01}.
2. ``rasterize``: the (first ``exposure`` fraction of the) path is splatted onto an NxN
   canvas with bilinear weights, each point carrying the same mass, and normalised to
   sum 1. Bilinear splatting keeps the centre of mass of the points exactly, so shifting
   the points' mean to the canvas centre gives a *centred* kernel: blurring does not
   translate the image on average (an aligned sharp/blurred pair).

Kernels are drawn on the CPU with NumPy (seeded, reproducible); blurring runs on the
training device as one grouped convolution for a whole batch (``blur``). The seed's
kernels are 71x71 for 512x512 faces; ``kernel_size_for`` scales that to smaller images
(about 9x9 at 64 px), so the blur covers the same share of the face.
"""
from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Sequence, Union

import numpy as np
import torch
import torch.nn.functional as F

from .. import LessonsError

__all__ = [
    "REFERENCE_KERNEL_SIZE",
    "REFERENCE_IMAGE_SIZE",
    "trajectory",
    "rasterize",
    "motion_blur_kernel",
    "kernel_size_for",
    "KernelBank",
    "blur",
    "make_blurred_batch",
    "BlurredPairs",
    "show_kernels",
]

# The seed's setting: 71x71 kernels for 512x512 FFHQ faces (seeds/004, section 3.1).
REFERENCE_KERNEL_SIZE = 71
REFERENCE_IMAGE_SIZE = 512
# Boracchi & Foi draw paths of at most 60 px on a 64 px canvas: the default path length is
# that share of the kernel size.
_LENGTH_SHARE = 60.0 / 64.0
# DeblurGAN's blurring script draws the anxiety from this list (several re-implementations
# fix it at 0.005). Its Trajectory class alone would draw 0.1 * U(0, 1): with 2,000 steps the
# direction then decorrelates within a few dozen steps and most kernels curl into a blob
# of 1-3 px radius on a 71 px canvas; these values give the familiar strokes and loops
# (median radius of gyration about 6 px at N = 71).
_ANXIETY_CHOICES = (0.01, 0.009, 0.008, 0.007, 0.005, 0.003)

SeedLike = Union[None, int, np.random.SeedSequence, np.random.Generator]
Exposure = Union[float, Sequence[float]]


def _as_rng(seed: SeedLike) -> np.random.Generator:
    """None -> fresh entropy; int or SeedSequence -> a new seeded Generator; a Generator as is."""
    if isinstance(seed, np.random.Generator):
        return seed
    if seed is None or isinstance(seed, (int, np.integer, np.random.SeedSequence)):
        return np.random.default_rng(seed)
    raise TypeError(f"seed must be None, an int, a SeedSequence or a numpy Generator, got {type(seed).__name__}")


def _check_size(size: int, name: str = "size") -> int:
    if isinstance(size, bool) or not isinstance(size, (int, np.integer)) or size < 1 or size % 2 == 0:
        raise ValueError(
            f"{name} must be a positive odd integer (a kernel needs a centre pixel), got {size!r}; "
            f"use kernel_size_for(image_size) to pick one"
        )
    return int(size)


# --------------------------------------------------------------------------- trajectories
def _draw_walk(rng: np.random.Generator, n_points: int, length: float, anxiety: float | None) -> dict:
    """Every random number one trajectory needs, drawn in a fixed order (so: reproducible)."""
    u = rng.random(4)
    params = {
        "anxiety": float(rng.choice(_ANXIETY_CHOICES)) if anxiety is None else float(anxiety),
        "length": float(length),
        "centripetal": 0.7 * u[0],  # strength of the pull back toward the start
        "p_big": 0.2 * u[1],  # probability (times anxiety) of an impulsive shake
        "gauss": 10.0 * u[2],  # amplitude of the Gaussian jitter
        "angle": 2.0 * math.pi * u[3],  # initial direction of motion
    }
    steps = n_points - 1
    params["u_shake"] = rng.random(steps)  # shake or not, per step
    params["u_angle"] = rng.random(steps)  # direction jitter of a shake
    params["normal"] = rng.standard_normal((steps, 2))  # Gaussian jitter e1, e2
    return params


def _walk(params: list[dict], n_points: int) -> np.ndarray:
    """Run the random walks of several trajectories at once; returns (n, n_points) complex."""
    n = len(params)
    stack = lambda key: np.array([p[key] for p in params])  # noqa: E731
    anxiety, length = stack("anxiety"), stack("length")
    c, p_big, g, angle = stack("centripetal"), stack("p_big"), stack("gauss"), stack("angle")
    u_shake, u_angle, normal = stack("u_shake"), stack("u_angle"), stack("normal")
    step = length / max(n_points - 1, 1)  # every step has the same length: path length = `length`
    v = np.exp(1j * angle) * step
    x = np.zeros((n, n_points), dtype=np.complex128)
    for t in range(n_points - 1):
        big = u_shake[:, t] < p_big * anxiety
        # an impulsive shake: twice the velocity, turned by pi +- 0.5 rad (a jerk backwards)
        shake = np.where(big, 2.0 * v * np.exp(1j * (math.pi + u_angle[:, t] - 0.5)), 0.0)
        jitter = g * (normal[:, t, 0] + 1j * normal[:, t, 1])
        dv = shake + anxiety * (jitter - c * x[:, t]) * step
        v = v + dv
        v = v / np.maximum(np.abs(v), 1e-12) * step  # inertia: keep the direction, fix the speed
        x[:, t + 1] = x[:, t] + v
    return x


def trajectory(
    canvas: int = REFERENCE_KERNEL_SIZE,
    length: float | None = None,
    anxiety: float | None = None,
    n_points: int = 2000,
    rng: SeedLike = None,
) -> np.ndarray:
    """One random camera path (Boracchi & Foi 2012), see the module docstring for the walk.

    Args:
        canvas: size of the kernel the path is meant for; sets the default ``length``.
        length: total path length in pixels (default ``60/64 * canvas``, Boracchi & Foi's
            60 px on a 64 px canvas).
        anxiety: amount of shake (default drawn from DeblurGAN's list 0.003 ... 0.01); 0
            gives a straight line, 0.1 a tight curl.
        n_points: number of positions (2,000 as in the reference code).
        rng: a seed, a ``SeedSequence`` or a ``numpy.random.Generator``.

    Returns:
        ``(n_points, 2)`` float64 array of ``(x, y)`` positions in pixels, starting at (0, 0).
    """
    if n_points < 2:
        raise ValueError(f"n_points must be at least 2, got {n_points}")
    length = _LENGTH_SHARE * canvas if length is None else float(length)
    if length < 0:
        raise ValueError(f"length must be >= 0 pixels, got {length}")
    x = _walk([_draw_walk(_as_rng(rng), n_points, length, anxiety)], n_points)[0]
    return np.stack([x.real, x.imag], axis=1)


def rasterize(traj: np.ndarray, size: int, exposure: float = 1.0) -> torch.Tensor:
    """Splat a path onto a ``size x size`` canvas: the PSF of that camera motion.

    The first ``ceil(exposure * n_points)`` positions each carry mass ``1/m`` and are
    spread over their four neighbouring pixels with bilinear weights
    ``(1 - fx)(1 - fy), fx (1 - fy), (1 - fx) fy, fx fy``. The points are first shifted
    so that their mean lies on the centre pixel ``((size-1)/2, (size-1)/2)``; since
    bilinear weights preserve the centre of mass, the kernel is centred exactly. A path
    that would then leave the canvas is shrunk about its centre (shape kept, length
    reduced) so that no mass is lost.

    Returns:
        float32 tensor ``(size, size)``, non-negative, summing to 1; row = y, column = x.
    """
    size = _check_size(size)
    pts = np.asarray(traj, dtype=np.float64)
    if pts.ndim != 2 or pts.shape[1] != 2 or len(pts) == 0:
        raise ValueError(f"traj must be an (n_points, 2) array of (x, y) positions, got shape {pts.shape}")
    if not 0.0 < exposure <= 1.0:
        raise ValueError(f"exposure must be in (0, 1] (the share of the path recorded), got {exposure}")
    m = max(1, math.ceil(exposure * len(pts)))
    pts = pts[:m] - pts[:m].mean(axis=0)
    half = (size - 1) / 2.0
    reach = float(np.abs(pts).max()) if m > 1 else 0.0
    if reach > half:
        pts = pts * (half / reach)
    pts = np.clip(pts + half, 0.0, size - 1.0)
    i0 = np.floor(pts).astype(np.int64)
    f = pts - i0
    i1 = np.minimum(i0 + 1, size - 1)  # i0 == size-1 only when f == 0: that weight is 0 anyway
    fx, fy = f[:, 0], f[:, 1]
    flat = np.concatenate(
        [i0[:, 1] * size + i0[:, 0], i0[:, 1] * size + i1[:, 0], i1[:, 1] * size + i0[:, 0], i1[:, 1] * size + i1[:, 0]]
    )
    w = np.concatenate([(1 - fx) * (1 - fy), fx * (1 - fy), (1 - fx) * fy, fx * fy])
    k = np.bincount(flat, weights=w, minlength=size * size).reshape(size, size)
    k /= k.sum()
    return torch.from_numpy(k.astype(np.float32))


def _draw_exposure(rng: np.random.Generator, exposure: Exposure) -> float:
    if isinstance(exposure, (int, float)):
        return float(exposure)
    lo, hi = (float(e) for e in exposure)
    if not 0.0 < lo <= hi <= 1.0:
        raise ValueError(f"an exposure range must satisfy 0 < lo <= hi <= 1, got {exposure}")
    return float(rng.uniform(lo, hi))


def motion_blur_kernel(
    size: int = REFERENCE_KERNEL_SIZE,
    seed: SeedLike = None,
    exposure: Exposure = 1.0,
    length: float | None = None,
    anxiety: float | None = None,
    n_points: int = 2000,
) -> torch.Tensor:
    """One random motion-blur kernel: ``rasterize(trajectory(...), size, exposure)``.

    Args:
        size: odd kernel size N (71 in the seed; see :func:`kernel_size_for`).
        seed: int / SeedSequence / numpy Generator; the same seed gives the same kernel.
        exposure: share of the path recorded, in (0, 1] (Boracchi & Foi's exposure time
            T), or a ``(lo, hi)`` range to draw it from.
        length, anxiety, n_points: see :func:`trajectory` (``length`` defaults to 60/64 N).

    Returns:
        float32 ``(N, N)`` tensor, non-negative, sum 1, centre of mass on the centre pixel.
    """
    size = _check_size(size)
    rng = _as_rng(seed)
    length = _LENGTH_SHARE * size if length is None else float(length)
    walk = _walk([_draw_walk(rng, n_points, length, anxiety)], n_points)[0]
    t = _draw_exposure(rng, exposure)
    return rasterize(np.stack([walk.real, walk.imag], axis=1), size, t)


def kernel_size_for(
    image_size: int, reference_kernel: int = REFERENCE_KERNEL_SIZE, reference_image: int = REFERENCE_IMAGE_SIZE
) -> int:
    """The odd kernel size that blurs an ``image_size`` image as much as 71 px blur a 512 px one.

    ``N = nearest odd integer to 71 * image_size / 512`` (at least 3): 9 at 64 px, 17 at
    128 px, 35 at 256 px, 71 at 512 px.
    """
    if isinstance(image_size, bool) or not isinstance(image_size, (int, np.integer)) or image_size < 1:
        raise ValueError(f"image_size must be a positive integer (pixels), got {image_size!r}")
    x = reference_kernel * image_size / reference_image
    return max(3, 2 * round((x - 1) / 2) + 1)


# --------------------------------------------------------------------------- the bank
class KernelBank:
    """A fixed, seeded set of motion-blur kernels (the seed draws 1,000 71x71 kernels once).

    Kernel ``i`` is ``motion_blur_kernel(size, seed=bank.kernel_seed(i), ...)``: each kernel
    has its own child seed of ``numpy.random.SeedSequence(seed)``, so the same
    ``(n, size, seed, ...)`` always gives a bit-identical bank, on any machine, and
    ``bank[:10]`` of a bank of 1,000 equals a bank of 10. The random walks of all kernels
    run together (vectorised over kernels), which makes a bank of 1,000 take about a
    second rather than a minute.

    ``bank.kernels`` is the float32 tensor ``(n, N, N)``; ``bank[i]`` indexes it (int, slice
    or index tensor); ``bank.on(device)`` caches a copy on the training device;
    ``save``/``load`` write a safetensors file (with the drawing parameters as metadata).
    """

    def __init__(
        self,
        n: int = 1000,
        size: int = REFERENCE_KERNEL_SIZE,
        seed: int = 0,
        exposure: Exposure = 1.0,
        length: float | None = None,
        anxiety: float | None = None,
        n_points: int = 2000,
    ):
        if isinstance(n, bool) or not isinstance(n, (int, np.integer)) or n < 1:
            raise ValueError(f"n (number of kernels) must be a positive integer, got {n!r}")
        size = _check_size(size)
        self.params = {
            "n": int(n),
            "size": size,
            "seed": int(seed),
            "exposure": exposure if isinstance(exposure, (int, float)) else list(exposure),
            "length": length,
            "anxiety": anxiety,
            "n_points": int(n_points),
        }
        walk_length = _LENGTH_SHARE * size if length is None else float(length)
        children = np.random.SeedSequence(int(seed)).spawn(int(n))
        kernels = torch.empty(int(n), size, size)
        chunk = 256  # walks run vectorised over this many kernels at a time (bounded memory)
        for start in range(0, int(n), chunk):
            rngs = [np.random.default_rng(s) for s in children[start : start + chunk]]
            walks_params = [_draw_walk(r, n_points, walk_length, anxiety) for r in rngs]
            walks = _walk(walks_params, n_points)
            for j, (r, w) in enumerate(zip(rngs, walks)):
                t = _draw_exposure(r, exposure)
                kernels[start + j] = rasterize(np.stack([w.real, w.imag], axis=1), size, t)
        self.kernels = kernels
        self._device_cache: dict[str, torch.Tensor] = {}

    @classmethod
    def from_tensor(cls, kernels: torch.Tensor, params: dict | None = None) -> "KernelBank":
        """Wrap an existing ``(n, N, N)`` kernel tensor (checked: odd N, >= 0, each sums to 1)."""
        k = torch.as_tensor(kernels).detach().to(torch.float32).cpu()
        if k.ndim != 3 or k.shape[1] != k.shape[2] or k.shape[1] % 2 == 0:
            raise ValueError(f"kernels must be an (n, N, N) tensor with N odd, got shape {tuple(k.shape)}")
        if (k < 0).any() or not torch.allclose(k.sum(dim=(1, 2)), torch.ones(len(k)), atol=1e-4):
            raise ValueError("every kernel must be non-negative and sum to 1 (a blur keeps the brightness)")
        bank = cls.__new__(cls)
        bank.kernels = k.contiguous()
        bank.params = dict(params or {"n": len(k), "size": int(k.shape[1])})
        bank._device_cache = {}
        return bank

    def kernel_seed(self, i: int) -> np.random.SeedSequence:
        """The child seed kernel ``i`` was drawn with (pass it to :func:`motion_blur_kernel`)."""
        if "seed" not in self.params:
            raise ValueError("this bank was made from a tensor, not drawn from a seed: it has no kernel seeds")
        if not 0 <= i < len(self):
            raise IndexError(f"kernel index {i} is out of range for a bank of {len(self)}")
        return np.random.SeedSequence(self.params["seed"]).spawn(i + 1)[i]

    @property
    def size(self) -> int:
        return int(self.kernels.shape[-1])

    def __len__(self) -> int:
        return int(self.kernels.shape[0])

    def __getitem__(self, idx) -> torch.Tensor:
        return self.kernels[idx]

    def __repr__(self) -> str:
        return f"KernelBank(n={len(self)}, size={self.size}, seed={self.params.get('seed')})"

    def on(self, device: torch.device | str) -> torch.Tensor:
        """The kernel tensor on ``device`` (copied once, then cached)."""
        key = str(torch.device(device))
        if key == "cpu":
            return self.kernels
        if key not in self._device_cache:
            self._device_cache[key] = self.kernels.to(device)
        return self._device_cache[key]

    def save(self, path: str | Path) -> Path:
        """Write ``kernels`` to a safetensors file, the drawing parameters as metadata."""
        from safetensors.torch import save_file

        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        save_file({"kernels": self.kernels.contiguous()}, str(path), metadata={"params": json.dumps(self.params)})
        return path

    @classmethod
    def load(cls, path: str | Path) -> "KernelBank":
        """Read a bank written by :meth:`save`."""
        from safetensors import safe_open

        path = Path(path)
        if not path.is_file():
            raise LessonsError(f"kernel bank file {path} does not exist; create one with KernelBank(...).save(path)")
        try:
            with safe_open(str(path), framework="pt") as f:
                meta = f.metadata() or {}
                kernels = f.get_tensor("kernels")
        except Exception as e:  # safetensors raises its own error types for corrupt files
            raise LessonsError(
                f"{path} is not a readable kernel bank ({e}); write it again with KernelBank(...).save(path)"
            ) from None
        params = json.loads(meta["params"]) if "params" in meta else None
        return cls.from_tensor(kernels, params)


# --------------------------------------------------------------------------- blurring
def _check_images(images: torch.Tensor, name: str) -> torch.Tensor:
    if not isinstance(images, torch.Tensor):
        raise TypeError(f"{name} must be a torch.Tensor, got {type(images).__name__}")
    if images.ndim != 4:
        raise ValueError(f"{name} must be a batch (B, C, H, W), got shape {tuple(images.shape)}")
    if images.dtype == torch.uint8:
        images = images.float() / 255.0
    elif not images.is_floating_point():
        raise ValueError(f"{name} must be float in [0, 1] or uint8, got {images.dtype}")
    return images


def blur(images: torch.Tensor, kernels: torch.Tensor) -> torch.Tensor:
    """Convolve each image of a batch with its own kernel, on the images' device.

    ``y_b = k_b * x_b`` for every channel, a true convolution (the kernel is flipped
    before ``conv2d``, which computes a correlation), so a kernel whose only non-zero pixel
    lies one row below the centre moves the image one pixel down. Borders use reflect
    padding (no dark frame). One grouped convolution (``groups = B*C``) does the whole
    batch; for very large kernels on large images an FFT would be faster.

    Args:
        images: ``(B, C, H, W)`` float (or uint8, scaled to [0, 1]).
        kernels: ``(N, N)`` for all images, or ``(B, N, N)`` one per image; N odd and
            ``N // 2 < min(H, W)``.
    """
    images = _check_images(images, "images")
    B, C, H, W = images.shape
    k = torch.as_tensor(kernels)
    if k.ndim == 2:
        k = k.unsqueeze(0)
    if k.ndim != 3 or k.shape[-1] != k.shape[-2] or k.shape[-1] % 2 == 0:
        raise ValueError(f"kernels must be (N, N) or (B, N, N) with N odd, got shape {tuple(k.shape)}")
    if k.shape[0] == 1:
        k = k.expand(B, -1, -1)
    if k.shape[0] != B:
        raise ValueError(f"got {k.shape[0]} kernels for {B} images; pass one kernel per image or a single one")
    n = k.shape[-1]
    pad = n // 2
    if pad >= H or pad >= W:
        raise ValueError(
            f"a {n}x{n} kernel is too large for {H}x{W} images (reflect padding needs N//2 < H, W); "
            f"use a kernel of kernel_size_for({min(H, W)}) = {kernel_size_for(min(H, W))}"
        )
    weight = k.to(device=images.device, dtype=images.dtype).flip(-1, -2)  # convolution, not correlation
    weight = weight[:, None].expand(B, C, n, n).reshape(B * C, 1, n, n)  # (B*C, 1, N, N)
    x = F.pad(images.reshape(1, B * C, H, W), (pad, pad, pad, pad), mode="reflect")  # (1, B*C, H+2p, W+2p)
    return F.conv2d(x, weight, groups=B * C).reshape(B, C, H, W)  # (B, C, H, W)


def make_blurred_batch(
    sharp: torch.Tensor,
    bank: KernelBank,
    generator: torch.Generator | None = None,
    noise_std: float = 0.0,
    kernel_idx: torch.Tensor | None = None,
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Blurred/sharp training pairs built on the fly, on the sharp batch's device.

    ``blurred = clamp(k_idx * sharp + noise_std * N(0, 1), 0, 1)`` with one random kernel
    of the bank per image (``kernel_idx`` picks them instead, e.g. for a fixed test set).

    Args:
        sharp: ``(B, C, H, W)`` float in [0, 1] (uint8 is scaled).
        bank: the kernel bank (its kernel size must suit the images, see ``blur``).
        generator: torch Generator for the kernel choice and the noise (reproducible pairs);
            its device is where the random numbers are drawn.
        noise_std: standard deviation of additive Gaussian noise, in [0, 1] units.

    Returns:
        ``(blurred, sharp, kernel_idx)``: two ``(B, C, H, W)`` float tensors and the
        ``(B,)`` int64 indices of the kernels used (on the images' device).
    """
    sharp = _check_images(sharp, "sharp")
    B = sharp.shape[0]
    if noise_std < 0:
        raise ValueError(f"noise_std must be >= 0, got {noise_std}")
    gen_device = generator.device if generator is not None else torch.device("cpu")
    if kernel_idx is None:
        kernel_idx = torch.randint(len(bank), (B,), generator=generator, device=gen_device)
    kernel_idx = torch.as_tensor(kernel_idx, dtype=torch.long).to(sharp.device)
    if kernel_idx.shape != (B,):
        raise ValueError(f"kernel_idx must have shape ({B},), got {tuple(kernel_idx.shape)}")
    blurred = blur(sharp, bank.on(sharp.device)[kernel_idx])
    if noise_std > 0:
        noise = torch.randn(sharp.shape, generator=generator, device=gen_device, dtype=torch.float32)
        blurred = blurred + noise_std * noise.to(device=sharp.device, dtype=sharp.dtype)
    return blurred.clamp_(0.0, 1.0), sharp, kernel_idx


class BlurredPairs:
    """A seeded source of blurred/sharp pairs: ``pairs(sharp) -> (blurred, sharp, kernel_idx)``.

    Holds the bank, the noise level and its own ``torch.Generator`` (seeded), so that a
    training run draws the same kernels and noise every time; ``state_dict`` /
    ``load_state_dict`` save and restore the generator for exact resumption.
    """

    def __init__(self, bank: KernelBank, noise_std: float = 0.0, seed: int = 0, device: str | torch.device = "cpu"):
        self.bank = bank
        self.noise_std = float(noise_std)
        self.generator = torch.Generator(device=device)
        self.generator.manual_seed(int(seed))

    def __call__(self, sharp: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        return make_blurred_batch(sharp, self.bank, self.generator, self.noise_std)

    def state_dict(self) -> dict:
        return {"generator": self.generator.get_state(), "noise_std": self.noise_std}

    def load_state_dict(self, state: dict) -> None:
        self.generator.set_state(state["generator"])
        self.noise_std = float(state.get("noise_std", self.noise_std))


# --------------------------------------------------------------------------- the viewer
def show_kernels(bank: KernelBank | torch.Tensor, n: int = 16, ncols: int = 8, indices: Sequence[int] | None = None):
    """A matplotlib Figure with ``n`` kernels of a bank (each scaled to its own maximum).

    Bright = where the camera spent more of the exposure. Returns the Figure (the caller
    shows or saves it; nothing is displayed here).
    """
    import matplotlib.pyplot as plt

    kernels = bank.kernels if isinstance(bank, KernelBank) else torch.as_tensor(bank)
    if kernels.ndim == 2:
        kernels = kernels[None]
    idx = list(indices) if indices is not None else list(range(min(n, len(kernels))))
    if not idx:
        raise ValueError("nothing to show: n must be >= 1")
    ncols = max(1, min(ncols, len(idx)))
    nrows = math.ceil(len(idx) / ncols)
    fig, axes = plt.subplots(nrows, ncols, figsize=(1.4 * ncols, 1.5 * nrows), squeeze=False)
    for ax in axes.flat:
        ax.axis("off")
    for ax, i in zip(axes.flat, idx):
        k = kernels[i].detach().float().cpu()
        ax.imshow((k / k.max().clamp_min(1e-12)).numpy(), cmap="inferno", vmin=0, vmax=1, interpolation="nearest")
        ax.set_title(f"#{i}", fontsize=8)
    fig.suptitle(f"motion-blur kernels ({kernels.shape[-1]}x{kernels.shape[-1]})", fontsize=10)
    fig.tight_layout()
    return fig
