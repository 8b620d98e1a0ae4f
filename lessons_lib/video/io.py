"""Reading and writing clips with PyAV (FFmpeg): frames as RGB arrays, the audio kept.

What is kept from IN to OUT
---------------------------
* **size**: the frames are encoded at the input's width x height. An odd width or height
  cannot be stored in 4:2:0 chroma (one chroma sample per 2 x 2 pixels), so such a clip
  is encoded in 4:4:4 instead (``yuv444p``; every H.264 / VP9 decoder of FFmpeg plays it,
  some hardware players do not).
* **timing**: every frame keeps its presentation time (its ``pts`` in the input stream's
  time base), so the frame rate, a variable frame rate and the duration are kept; the
  container's nominal rate is the input's average rate.
* **audio**: the first audio stream's packets are copied unchanged when OUT's container
  can hold that codec, and re-encoded (AAC; Opus for WebM; none for GIF, which has no
  sound) when it cannot. Packets are read in file order with the video's (one ``demux``),
  so nothing is buffered beyond a few packets.
* **depth**: frames are decoded to 8-bit RGB (a 10-bit clip is converted by FFmpeg's
  swscale); the output is 8-bit.

Nothing is written under OUT's name until the clip is complete: :class:`ClipWriter` writes
to a hidden temporary file beside OUT (same folder, so the final :func:`os.replace` is an
atomic rename on one file system) and removes it on any error, a full disk included.
"""
from __future__ import annotations

import errno
import os
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from typing import Any, Iterator

import numpy as np

from .. import LessonsError

__all__ = ["VIDEO_EXTENSIONS", "ClipInfo", "Frame", "probe", "ClipReader", "read_clip", "ClipWriter", "check_video_paths"]

#: the containers ``lessons colorize`` writes, by OUT's extension (it reads anything FFmpeg reads)
VIDEO_EXTENSIONS = {".mp4": "mp4", ".m4v": "mp4", ".mov": "mov", ".mkv": "matroska", ".webm": "webm",
                    ".avi": "avi", ".gif": "gif"}
# the video encoder and its options per container: H.264 at CRF 18 ("visually lossless" in
# x264's documentation) with the veryfast preset (speed: the colorizer, not the encoder,
# should set the pace); VP9 in WebM (realtime deadline, cpu-used 8: libvpx's fastest).
_VIDEO_CODEC = {"mp4": "libx264", "mov": "libx264", "matroska": "libx264", "avi": "libx264",
                "webm": "libvpx-vp9", "gif": "gif"}
_CODEC_OPTIONS = {"libx264": {"crf": "18", "preset": "veryfast"},
                  "libvpx-vp9": {"crf": "32", "b": "0", "deadline": "realtime", "cpu-used": "8", "row-mt": "1"},
                  "gif": {}}
# audio codecs each container takes as they are (others are re-encoded)
_AUDIO_COPY = {"mp4": {"aac", "mp3", "alac", "ac3", "opus", "flac"}, "mov": {"aac", "mp3", "alac", "ac3", "pcm_s16le"},
               "matroska": None,  # None: any codec
               "webm": {"opus", "vorbis"}, "avi": {"mp3", "ac3", "pcm_s16le", "aac"}, "gif": set()}
_AUDIO_ENCODER = {"webm": ("libopus", 48000), "avi": ("libmp3lame", None)}  # default: ("aac", None)


@dataclass(frozen=True)
class ClipInfo:
    """What :func:`probe` reads from a clip's header (nothing is decoded)."""

    path: str
    container: str            # FFmpeg's format name, e.g. "mov,mp4,m4a,3gp,3g2,mj2"
    codec: str                # the video codec, e.g. "h264"
    width: int
    height: int
    fps: Fraction             # the average frame rate (frames / duration)
    frames: int | None        # as stated by the header (None: not stated)
    duration_s: float | None
    pix_fmt: str | None       # e.g. "yuv420p", "yuv420p10le"
    audio: str | None         # the first audio stream's codec, None without sound

    @property
    def ten_bit(self) -> bool:
        """True for a pixel format with more than 8 bits per sample (10-, 12-bit...)."""
        return bool(self.pix_fmt) and any(t in self.pix_fmt for t in ("p10", "p12", "p16", "10le", "12le", "16le"))

    @property
    def frames_estimate(self) -> int | None:
        """The stated frame count, else duration x rate (for the progress bar)."""
        if self.frames:
            return self.frames
        if self.duration_s and self.fps:
            return max(1, round(self.duration_s * float(self.fps)))
        return None

    def describe(self) -> str:
        n = self.frames_estimate
        parts = [f"{self.width}x{self.height}", f"{float(self.fps):.3g} fps"]
        if n:
            parts.append(f"{n} frames")
        if self.duration_s:
            parts.append(f"{self.duration_s:.1f} s")
        parts.append(f"{self.codec}{' ' + self.pix_fmt if self.pix_fmt else ''}")
        parts.append(f"audio {self.audio}" if self.audio else "no audio")
        return ", ".join(parts)


@dataclass
class Frame:
    """One decoded frame: its index from 0, its presentation time ``pts`` (in ``time_base``
    units; None when the file gave none) and its pixels, ``rgb`` (H, W, 3) uint8."""

    index: int
    pts: int | None
    time_base: Fraction | None
    rgb: np.ndarray

    @property
    def time_s(self) -> float | None:
        return None if self.pts is None or self.time_base is None else float(self.pts * self.time_base)


def _av():
    try:
        import av
    except ImportError as e:  # pragma: no cover - a dependency of the package
        raise LessonsError("video needs PyAV: pip install av") from e
    return av


def _open_input(path: str | os.PathLike):
    av = _av()
    p = Path(path).expanduser()
    if not p.exists():
        raise LessonsError(f"no file at {p}")
    if p.is_dir():
        raise LessonsError(f"{p} is a folder, not a video file")
    try:
        return av.open(str(p), mode="r")
    except av.error.FFmpegError as e:
        raise LessonsError(f"cannot read {p} as a video: {_ffmpeg_reason(e)} (is it a video file, and complete?)") \
            from None


def _ffmpeg_reason(e: Exception) -> str:
    return getattr(e, "strerror", None) or str(e)


def _video_stream(container, path) -> Any:
    if not container.streams.video:
        kinds = sorted({s.type for s in container.streams}) or ["nothing"]
        raise LessonsError(f"{path} has no video stream (it holds {', '.join(kinds)}); give a video file")
    return container.streams.video[0]


def _info(c, path) -> ClipInfo:
    v = _video_stream(c, path)
    cc = v.codec_context
    if not cc.width or not cc.height:
        raise LessonsError(f"{path}: the video stream has no frame size (a damaged or empty file)")
    rate = v.average_rate or v.guessed_rate or v.base_rate
    duration = None
    if v.duration is not None and v.time_base is not None:
        duration = float(v.duration * v.time_base)
    elif c.duration is not None:
        duration = c.duration / 1_000_000
    audio = _codec_name(c.streams.audio[0]) if c.streams.audio else None
    return ClipInfo(path=str(path), container=c.format.name, codec=cc.name, width=int(cc.width),
                    height=int(cc.height), fps=Fraction(rate) if rate else Fraction(0),
                    frames=int(v.frames) or None, duration_s=duration,
                    pix_fmt=cc.pix_fmt if cc.pix_fmt else None, audio=audio)


def _codec_name(stream) -> str:
    """The codec's name, not its decoder's (FFmpeg decodes mp3 with "mp3float")."""
    name = stream.codec_context.name
    for suffix in ("float", "_fixed"):
        name = name.removesuffix(suffix)
    return name


def probe(path: str | os.PathLike) -> ClipInfo:
    """Read a clip's header: size, rate, frames, duration, codecs (raises a clear
    :class:`~lessons_lib.LessonsError` for a file that is no video)."""
    with ClipReader(path) as r:
        return r.info


class ClipReader:
    """An open clip: :attr:`info` from its header, :meth:`frames` decodes it once, in order.

    Use as a context manager (or call :meth:`close`)."""

    def __init__(self, path: str | os.PathLike) -> None:
        self.path = path
        self._c = _open_input(path)
        try:
            self.info = _info(self._c, path)
        except BaseException:
            self._c.close()
            raise

    @property
    def audio_stream(self):
        """The first audio stream (what :class:`ClipWriter` copies), or None."""
        return self._c.streams.audio[0] if self._c.streams.audio else None

    def frames(self, *, audio_sink=None, max_frames: int | None = None) -> Iterator[Frame]:
        """Decode the frames in order as RGB uint8 (10-bit and any pixel format converted).

        Args:
            audio_sink: called with each packet of the first audio stream, in file order (what
                :meth:`ClipWriter.add_audio_packet` takes), so that audio needs no second pass.
            max_frames: stop after this many frames.
        Raises a :class:`~lessons_lib.LessonsError` naming the frame where a damaged file fails.
        """
        av = _av()
        v = self._c.streams.video[0]
        v.thread_type = "AUTO"          # frame threads: decoding keeps up with the colorizer
        audio = self.audio_stream
        streams = [v] + ([audio] if audio_sink is not None and audio is not None else [])
        index = 0
        try:
            for packet in self._c.demux(*streams):
                if packet.stream.type == "audio":
                    if packet.dts is not None:
                        audio_sink(packet)
                    continue
                for frame in packet.decode():
                    yield Frame(index, frame.pts, frame.time_base, frame.to_ndarray(format="rgb24"))
                    index += 1
                    if max_frames is not None and index >= max_frames:
                        return
        except av.error.FFmpegError as e:
            raise LessonsError(f"{self.path}: the video cannot be decoded after frame {index} "
                               f"({_ffmpeg_reason(e)}): the file is damaged or truncated") from None

    def close(self) -> None:
        self._c.close()

    def __enter__(self) -> ClipReader:
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def read_clip(path: str | os.PathLike, max_frames: int | None = None) -> Iterator[Frame]:
    """The frames of a clip, decoded in order (:meth:`ClipReader.frames`)."""
    with ClipReader(path) as r:
        yield from r.frames(max_frames=max_frames)


def check_video_paths(src: str | os.PathLike, out: str | os.PathLike) -> Path:
    """OUT as a Path, checked before any work: a container ``lessons colorize`` writes
    (:data:`VIDEO_EXTENSIONS`), not the input file, not a folder."""
    path = Path(out).expanduser()
    ext = path.suffix.lower()
    if ext not in VIDEO_EXTENSIONS:
        raise LessonsError(f"cannot write a video as {out!r}: use one of {', '.join(sorted(VIDEO_EXTENSIONS))}")
    source = Path(src).expanduser()
    same = path.resolve() == source.resolve()
    if not same and path.exists() and source.exists():
        same = path.samefile(source)
    if same:
        raise LessonsError(f"OUT {out!r} is the input file: refusing to overwrite it; choose another name")
    if path.is_dir():
        raise LessonsError(f"OUT {out!r} is a folder; give a file name such as {path / 'colour.mp4'}")
    return path


class ClipWriter:
    """Encode RGB frames (and the input's audio) into ``out``, atomically.

    Use as a context manager; :meth:`write` takes (H, W, 3) uint8 frames with their input
    pts. On leaving without an exception the file is closed and renamed to ``out``; on any
    exception the temporary file is removed and ``out`` is left as it was.
    """

    def __init__(self, out: str | os.PathLike, info: ClipInfo, *, audio_stream=None) -> None:
        av = _av()
        self.out = Path(out).expanduser()
        self.format = VIDEO_EXTENSIONS[self.out.suffix.lower()]
        self.info = info
        self.out.parent.mkdir(parents=True, exist_ok=True)
        self.tmp = self.out.with_name(f".{self.out.stem}.partial-{os.getpid()}{self.out.suffix}")
        try:
            self._c = av.open(str(self.tmp), mode="w", format=self.format)
        except (OSError, av.error.FFmpegError) as e:
            raise LessonsError(f"cannot write {self.out}: {_ffmpeg_reason(e)}") from None
        try:
            self._add_video()
            self._audio_in = audio_stream
            self._audio_out = None
            self._audio_enc = None
            self.audio_note = ""
            if audio_stream is not None:
                self._add_audio(audio_stream)
        except Exception:
            self._abort()
            raise
        self.frames = 0
        self._last_pts: int | None = None

    # ------------------------------------------------------------------ streams
    def _add_video(self) -> None:
        codec = _VIDEO_CODEC[self.format]
        rate = self.info.fps if self.info.fps else Fraction(25)
        rate = rate.limit_denominator(100000)
        s = self._c.add_stream(codec, rate=rate)
        s.width, s.height = self.info.width, self.info.height
        if codec == "gif":
            s.pix_fmt = "rgb8"
            self._time_base = Fraction(1, 100)          # GIF stores delays in 1/100 s
        else:
            even = self.info.width % 2 == 0 and self.info.height % 2 == 0
            s.pix_fmt = "yuv420p" if even else "yuv444p"
            self._time_base = Fraction(1, 90000) if self.format == "webm" else None
        s.options = dict(_CODEC_OPTIONS[codec])
        s.thread_type = "AUTO"
        self._v = s

    def _add_audio(self, a) -> None:
        name = _codec_name(a)
        ok = _AUDIO_COPY[self.format]
        if ok is not None and not ok:
            self.audio_note = f"{self.format.upper()} has no sound: the audio ({name}) is dropped"
            return
        if ok is None or name in ok:
            self._audio_out = self._c.add_stream_from_template(a)
            self.audio_note = f"audio copied ({name})"
            return
        enc, sr = _AUDIO_ENCODER.get(self.format, ("aac", None))
        av = _av()
        rate = sr or a.codec_context.sample_rate or 44100
        self._audio_out = self._c.add_stream(enc, rate=rate)
        self._audio_dec = a.codec_context
        self._audio_enc = av.AudioResampler(format=self._audio_out.codec_context.format.name,
                                            layout=self._audio_out.codec_context.layout.name, rate=rate)
        self.audio_note = f"audio re-encoded ({name} -> {enc}: {self.format} cannot hold {name})"

    # ------------------------------------------------------------------ writing
    def add_audio_packet(self, packet) -> None:
        """One packet of the input's audio stream (copied, or decoded and re-encoded)."""
        if self._audio_out is None:
            return
        av = _av()
        try:
            if self._audio_enc is None:
                packet.stream = self._audio_out
                self._c.mux(packet)
                return
            for frame in self._audio_dec.decode(packet):
                frame.pts = None
                for f in self._audio_enc.resample(frame):
                    self._c.mux(self._audio_out.encode(f))
        except av.error.FFmpegError as e:
            self._raise_write(e)

    def write(self, rgb: np.ndarray, pts: int | None, time_base: Fraction | None) -> None:
        """Encode one (H, W, 3) uint8 frame shown at ``pts`` x ``time_base`` seconds."""
        av = _av()
        frame = av.VideoFrame.from_ndarray(np.ascontiguousarray(rgb), format="rgb24")
        if self._v.pix_fmt == "rgb8":
            frame = frame.reformat(format="rgb8")
        tb = self._time_base or time_base or Fraction(1, 90000)
        if pts is None or time_base is None:
            t = Fraction(self.frames) / (self.info.fps or Fraction(25))
        else:
            t = pts * time_base
        p = round(t / tb)
        if self._last_pts is not None and p <= self._last_pts:
            p = self._last_pts + 1       # a damaged or rounded timestamp: keep them increasing
        self._last_pts = p
        frame.pts, frame.time_base = p, tb
        try:
            for packet in self._v.encode(frame):
                self._c.mux(packet)
        except av.error.FFmpegError as e:
            self._raise_write(e)
        self.frames += 1

    def _raise_write(self, e: Exception) -> None:
        code = getattr(e, "errno", None)
        if code == errno.ENOSPC:
            raise LessonsError(f"the disk is full while writing {self.out}: nothing was written under that name "
                               "(free some space and run it again)") from None
        raise LessonsError(f"cannot write {self.out}: {_ffmpeg_reason(e)}") from None

    def _flush(self) -> None:
        av = _av()
        try:
            for packet in self._v.encode(None):
                self._c.mux(packet)
            if self._audio_enc is not None:
                for f in self._audio_enc.resample(None):
                    self._c.mux(self._audio_out.encode(f))
                self._c.mux(self._audio_out.encode(None))
            self._c.close()
        except av.error.FFmpegError as e:
            self._raise_write(e)

    def _abort(self) -> None:
        try:
            self._c.close()
        except Exception:  # noqa: BLE001 - the file is removed anyway
            pass
        try:
            self.tmp.unlink()
        except FileNotFoundError:
            pass

    def __enter__(self) -> ClipWriter:
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        if exc_type is not None:
            self._abort()
            return
        try:
            if self.frames == 0:
                raise LessonsError(f"{self.info.path} has no frames to colorize; nothing was written")
            self._flush()
            os.replace(self.tmp, self.out)
        except OSError as e:
            self._abort()
            if e.errno == errno.ENOSPC:
                raise LessonsError(f"the disk is full while writing {self.out}: nothing was written under that "
                                   "name (free some space and run it again)") from None
            raise LessonsError(f"cannot write {self.out}: {e}") from None
        except BaseException:
            self._abort()
            raise
