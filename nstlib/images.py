"""Image I/O and colour handling. Images are float tensors B×3×H×W, RGB in [0, 1]."""

from __future__ import annotations

import functools
import hashlib
import http.client
import io
import os
import time
import urllib.error
import urllib.request
import warnings
import zlib
from pathlib import Path
from typing import Any

import numpy as np
import png
import tifffile
import torch
import torch.nn.functional as F
from PIL import Image, ImageCms, ImageOps

from nstlib.errors import ImageError as ImageError  # re-exported: the error of this module
from nstlib.errors import quoted
from nstlib.files import atomic_target, file_problem
from nstlib.paths import is_url, resolve_input, source_root

CACHE_DIR = Path(os.environ.get("NSTLIB_CACHE", Path.home() / ".cache" / "nstlib"))
# A download must finish within DOWNLOAD_DEADLINE_S in all (not per read) and stay under
# DOWNLOAD_MAX_BYTES; both settable through the environment (docs/promises.md).
DOWNLOAD_DEADLINE_S = float(os.environ.get("NSTLIB_DOWNLOAD_DEADLINE_S", 60))
DOWNLOAD_MAX_BYTES = int(float(os.environ.get("NSTLIB_DOWNLOAD_MAX_MB", 50)) * 1e6)
CHUNK = 1 << 16


def _download(url: str) -> Path:
    """Fetch `url` once into the cache and return the cached file.

    The body streams to a temporary file under a total deadline and a byte cap, and is cached only if
    it decodes as an image, so a server's error page never poisons the cache.
    """
    suffix = Path(url.split("?")[0]).suffix[:5] or ".img"
    target = CACHE_DIR / "images" / (hashlib.sha256(url.encode()).hexdigest()[:24] + suffix)
    if target.is_file():
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    deadline = time.monotonic() + DOWNLOAD_DEADLINE_S
    try:
        with atomic_target(target) as tmp:
            with urllib.request.urlopen(url, timeout=DOWNLOAD_DEADLINE_S) as response, open(tmp, "wb") as out:
                size = 0
                while chunk := _read_some(response, deadline, url):
                    size += len(chunk)
                    if size > DOWNLOAD_MAX_BYTES:
                        limit = f"{DOWNLOAD_MAX_BYTES / 1e6:g} MB"
                        raise ImageError(f"{quoted(url)}: larger than {limit} (NSTLIB_DOWNLOAD_MAX_MB); not downloaded")
                    out.write(chunk)
                if response.length:  # the connection closed before the announced Content-Length
                    raise ImageError(
                        f"{quoted(url)}: download incomplete ({size} bytes, {size + response.length} announced)"
                    )
            _check_decodes(tmp, url, response.headers.get("Content-Type", "unknown type"))
    except ImageError:
        raise
    except (urllib.error.URLError, http.client.HTTPException, OSError, ValueError) as e:
        reason = getattr(e, "reason", None) or e.__class__.__name__ + (f": {e}" if str(e) else "")
        raise ImageError(" ".join(f"{quoted(url)}: cannot download ({reason})".split())) from None
    return target


def _read_some(response: http.client.HTTPResponse, deadline: float, url: str) -> bytes:
    """The next bytes that arrived (read1: a trickling server cannot hold one read past the deadline)."""
    remaining = deadline - time.monotonic()
    if remaining <= 0:
        raise ImageError(
            f"{quoted(url)}: download took longer than {DOWNLOAD_DEADLINE_S:g} s (NSTLIB_DOWNLOAD_DEADLINE_S)"
        )
    sock = getattr(getattr(response, "fp", None), "raw", None)
    sock = getattr(sock, "_sock", None)
    if sock is not None:
        sock.settimeout(min(remaining, DOWNLOAD_DEADLINE_S))
    try:
        return response.read1(CHUNK)
    except TimeoutError:
        raise ImageError(
            f"{quoted(url)}: download took longer than {DOWNLOAD_DEADLINE_S:g} s (NSTLIB_DOWNLOAD_DEADLINE_S)"
        ) from None


def _check_decodes(path: Path, url: str, content_type: str) -> None:
    try:
        with Image.open(path) as img:
            img.verify()
    except Exception:
        raise ImageError(f"{quoted(url)}: the server sent {content_type}, not an image; nothing cached") from None


def _to_rgb(img: Image.Image) -> Image.Image:
    """Any PIL mode to 8-bit RGB: alpha composited on white, 16-bit and float rescaled, CMYK converted."""
    if img.mode in ("RGBA", "LA", "PA") or (img.mode == "P" and "transparency" in img.info):
        rgba = img.convert("RGBA")
        white = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        return Image.alpha_composite(white, rgba).convert("RGB")
    if img.mode.startswith("I") or img.mode == "F":
        arr = np.asarray(img, dtype=np.float64)
        top = (
            1.0
            if img.mode == "F" and arr.max() <= 1.0
            else 65535.0
            if img.mode.startswith("I;16") or arr.max() > 255
            else 255.0
        )
        return Image.fromarray(np.clip(arr / top * 255.0 + 0.5, 0, 255).astype(np.uint8)).convert("RGB")
    return img.convert("RGB")


def load_pil(path: str, max_pixels: int | None = None) -> Image.Image:
    """Open a path or URL as an RGB PIL image, EXIF orientation applied; raise ImageError on bad input."""
    source = str(path)
    local = _download(source) if is_url(source) else Path(resolve_input(source))
    problem = file_problem(local)
    if problem == "file not found" and source.startswith("collections/") and source_root() is None:
        problem += "; the bundled collections/ come with a source checkout of NST Lab"
    if problem is not None:
        raise ImageError(f"{quoted(source)}: {problem}")
    limit = max_pixels or Image.MAX_IMAGE_PIXELS
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(local) as img:
                if limit and img.width * img.height > limit:
                    raise ImageError(
                        f"{quoted(source)}: {img.width}×{img.height} pixels exceeds the limit of {limit} "
                        "(decompression bomb?)"
                    )
                img.load()
                img = ImageOps.exif_transpose(img)
                return _to_rgb(img)
    except ImageError:
        raise
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as e:
        raise ImageError(f"{quoted(source)}: too many pixels, refused as a possible decompression bomb ({e})") from None
    except Image.UnidentifiedImageError:
        raise ImageError(f"{quoted(source)}: not an image file (unrecognised format)") from None
    except (OSError, SyntaxError, ValueError) as e:
        raise ImageError(f"{quoted(source)}: cannot decode ({e}); is the file truncated or corrupt?") from None


def pil_to_tensor(img: Image.Image) -> torch.Tensor:
    arr = np.asarray(img, dtype=np.float32) / 255.0
    return torch.from_numpy(arr).permute(2, 0, 1).unsqueeze(0).contiguous()


def tensor_to_uint8(image: torch.Tensor) -> np.ndarray:
    """A 1×3×H×W or 3×H×W tensor in [0, 1] to an H×W×3 uint8 array (rounded)."""
    image = image.detach().float()
    if image.dim() == 4:
        if image.shape[0] != 1:
            raise ValueError(f"expected one image, got a batch of {image.shape[0]}")
        image = image[0]
    return (image.clamp(0, 1) * 255).round().to(torch.uint8).permute(1, 2, 0).cpu().numpy()


def load_image(path: str, size: int | None = None, max_pixels: int | None = None) -> torch.Tensor:
    """Load a path or http(s) URL as a 1×3×H×W RGB tensor in [0, 1], longest side resized to `size` if given."""
    image = pil_to_tensor(load_pil(path, max_pixels))
    return resize_longest(image, size) if size else image


@functools.lru_cache(maxsize=1)
def srgb_profile() -> bytes:
    """An sRGB ICC profile (made by Pillow's LittleCMS, no file): the colour space of every image NST Lab writes."""
    return ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes()


def save_image(image: torch.Tensor, path: str | os.PathLike[str]) -> Path:
    """Save a 1×3×H×W (or 3×H×W) tensor in [0, 1] as 8-bit RGB, atomically (format from the suffix), with an
    embedded sRGB profile so that colour-managed viewers read the colours as meant (final images: `save_print`)."""
    path = Path(path)
    img = Image.fromarray(tensor_to_uint8(image))
    fmt = Image.registered_extensions().get(path.suffix.lower())
    if fmt is None:
        raise ImageError(f"{quoted(path)}: unknown image format {path.suffix!r}")
    extra: dict[str, Any] = {"icc_profile": srgb_profile()} if fmt in ("PNG", "JPEG", "TIFF", "WEBP") else {}
    with atomic_target(path) as tmp:
        img.save(tmp, format=fmt, **extra)
    return path


def save_print(image: torch.Tensor, path: str | os.PathLike[str], bit_depth: int = 8, dpi: int = 300) -> Path:
    """Save a 1×3×H×W tensor in [0, 1] as a print file, atomically: PNG (8 bits by Pillow, 16 by pypng, which
    Pillow cannot write as RGB) or TIFF (tifffile) by the suffix, with its dpi (PNG pHYs, TIFF resolution tags)
    and an embedded sRGB ICC profile."""
    path, icc = Path(path), srgb_profile()
    if bit_depth == 8:
        array = tensor_to_uint8(image)
    else:
        array = (image.detach().float()[0].clamp(0, 1) * 65535).round().to(torch.int32).permute(1, 2, 0).cpu().numpy()
        array = array.astype(np.uint16)
    with atomic_target(path) as tmp:
        if path.suffix.lower() in (".tif", ".tiff"):
            tifffile.imwrite(
                tmp, array, photometric="rgb", resolution=(dpi, dpi), resolutionunit="INCH", iccprofile=icc
            )
        elif bit_depth == 8:
            Image.fromarray(array).save(tmp, format="PNG", dpi=(dpi, dpi), icc_profile=icc)
        else:
            per_metre = round(dpi / 0.0254)
            writer = png.Writer(
                array.shape[1],
                array.shape[0],
                greyscale=False,
                bitdepth=16,
                x_pixels_per_unit=per_metre,
                y_pixels_per_unit=per_metre,
                unit_is_meter=True,
            )
            chunks = list(png.Reader(bytes=_png_bytes(writer, array)).chunks())
            iccp = b"sRGB\0\0" + zlib.compress(icc)  # name, compression method 0 (zlib), the profile
            with open(tmp, "wb") as f:
                png.write_chunks(f, [chunks[0], (b"iCCP", iccp), *chunks[1:]])  # iCCP must precede IDAT
    return path


def _png_bytes(writer: png.Writer, array: np.ndarray) -> bytes:
    out = io.BytesIO()
    writer.write(out, array.reshape(array.shape[0], -1))
    return out.getvalue()


def quantize(image: torch.Tensor, bits: int = 8) -> torch.Tensor:
    """What the image becomes once saved with `bits` per channel."""
    top = (1 << bits) - 1
    return (image.clamp(0, 1) * top).round() / top


# ---- geometry and colour ------------------------------------------------------------------------
def scaled_size(height: int, width: int, longest: int) -> tuple[int, int]:
    scale = longest / max(height, width)
    return max(1, round(height * scale)), max(1, round(width * scale))


def resize(image: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
    if tuple(image.shape[-2:]) == tuple(size):
        return image
    shrinking = size[0] < image.shape[-2]
    return F.interpolate(
        image, size=size, mode="bicubic" if not shrinking else "area", align_corners=False if not shrinking else None
    ).clamp(0, 1)


def crop_to_aspect(image: torch.Tensor, aspect: float) -> torch.Tensor:
    """The largest centred crop of `image` whose width ÷ height is `aspect` (a print's shape)."""
    h, w = image.shape[-2:]
    if w > h * aspect:
        keep = max(1, round(h * aspect))
        left = (w - keep) // 2
        return image[..., left : left + keep]
    keep = max(1, round(w / aspect))
    top = (h - keep) // 2
    return image[..., top : top + keep, :]


def mirror_pad(x: torch.Tensor, pad: int) -> torch.Tensor:
    """Reflect `pad` pixels on each side; in rounds, as a reflection cannot exceed the side − 1."""
    while pad > 0:
        step = min(pad, x.shape[-2] - 1, x.shape[-1] - 1)
        if step < 1:
            return F.pad(x, (pad,) * 4, mode="replicate")  # a 1-pixel side has nothing to reflect
        x, pad = F.pad(x, (step,) * 4, mode="reflect"), pad - step
    return x


def crop_margin(x: torch.Tensor, margin: int) -> torch.Tensor:
    """`x` without `margin` pixels on each side (the inverse of mirror_pad's geometry)."""
    return x[..., margin : x.shape[-2] - margin, margin : x.shape[-1] - margin] if margin else x


def resize_longest(image: torch.Tensor, longest: int) -> torch.Tensor:
    return resize(image, scaled_size(image.shape[-2], image.shape[-1], longest))


def _rgb_to_yiq_matrix(device: torch.device) -> torch.Tensor:
    return torch.tensor([[0.299, 0.587, 0.114], [0.596, -0.274, -0.322], [0.211, -0.523, 0.312]], device=device)


def rgb_to_yiq(image: torch.Tensor) -> torch.Tensor:
    return torch.einsum("ij,bjhw->bihw", _rgb_to_yiq_matrix(image.device), image)


def yiq_to_rgb(image: torch.Tensor) -> torch.Tensor:
    return torch.einsum("ij,bjhw->bihw", torch.linalg.inv(_rgb_to_yiq_matrix(image.device)), image)


def luminance(image: torch.Tensor) -> torch.Tensor:
    """The Y channel repeated 3 times: the grey image the luminance-only transfer optimises."""
    return rgb_to_yiq(image)[:, :1].repeat(1, 3, 1, 1)


# sRGB (IEC 61966-2-1) linear RGB → CIE XYZ, and the D65 white point (CIE 15:2004)
_SRGB_TO_XYZ = ((0.4124564, 0.3575761, 0.1804375), (0.2126729, 0.7151522, 0.0721750), (0.0193339, 0.1191920, 0.9503041))
_D65 = (0.95047, 1.0, 1.08883)


def rgb_to_lab(image: torch.Tensor) -> torch.Tensor:
    """sRGB in [0, 1] (B×3×H×W) → CIE L*a*b* (L in [0, 100]) under D65: the sRGB transfer curve undone, XYZ,
    then L = 116 f(Y/Yn) − 16, a = 500 (f(X/Xn) − f(Y/Yn)), b = 200 (f(Y/Yn) − f(Z/Zn)) (CIE 15:2004)."""
    rgb = image.double().clamp(0, 1)
    linear = torch.where(rgb <= 0.04045, rgb / 12.92, ((rgb + 0.055) / 1.055) ** 2.4)
    matrix = torch.tensor(_SRGB_TO_XYZ, dtype=rgb.dtype, device=rgb.device)
    white = torch.tensor(_D65, dtype=rgb.dtype, device=rgb.device).view(1, 3, 1, 1)
    t = torch.einsum("ij,bjhw->bihw", matrix, linear) / white
    delta = 6 / 29
    f = torch.where(t > delta**3, t.clamp_min(delta**3) ** (1 / 3), t / (3 * delta**2) + 4 / 29)
    lab = torch.stack([116 * f[:, 1] - 16, 500 * (f[:, 0] - f[:, 1]), 200 * (f[:, 1] - f[:, 2])], dim=1)
    return lab.to(image.dtype)


def match_luminance(style: torch.Tensor, content: torch.Tensor) -> torch.Tensor:
    """Style luminance with the content luminance's mean and std (Gatys et al. 2017, Sec. 5.1)."""
    ys, yc = luminance(style), luminance(content)
    return ((ys - ys.mean()) * (yc.std() / ys.std().clamp_min(1e-6)) + yc.mean()).clamp(0, 1)


def with_content_colour(result: torch.Tensor, content: torch.Tensor) -> torch.Tensor:
    """Combine the result's luminance with the content's I and Q channels (Gatys et al. 2017)."""
    content = resize(content, (result.shape[-2], result.shape[-1]))
    yiq = torch.cat([rgb_to_yiq(result)[:, :1], rgb_to_yiq(content)[:, 1:]], dim=1)
    return yiq_to_rgb(yiq).clamp(0, 1)


def match_colour_histogram(style: torch.Tensor, content: torch.Tensor) -> torch.Tensor:
    """Linear map x' = A x + b giving the style's pixels the content's colour mean and covariance.

    A = Σc^½ Σs^-½ with symmetric matrix square roots (Gatys et al. 2017, Sec. 5.2).
    """

    def stats(img: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        px = img[0].reshape(3, -1).double()
        mean = px.mean(1, keepdim=True)
        centred = px - mean
        return mean, centred @ centred.T / px.shape[1] + 1e-5 * torch.eye(3, dtype=px.dtype)

    def sqrtm(m: torch.Tensor, power: float) -> torch.Tensor:
        vals, vecs = torch.linalg.eigh(m)
        result: torch.Tensor = vecs @ torch.diag(vals.clamp_min(1e-8) ** power) @ vecs.T
        return result

    mu_s, cov_s = stats(style)
    mu_c, cov_c = stats(content)
    a = sqrtm(cov_c, 0.5) @ sqrtm(cov_s, -0.5)
    px = style[0].reshape(3, -1).double()
    out = a @ (px - mu_s) + mu_c
    return out.reshape(style.shape).float().clamp(0, 1)
