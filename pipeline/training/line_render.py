"""Paired text lines for the handwriting model: the same words typed and handwritten, glyph by glyph.

Both renderings share one layout: every character sits in the cell the typed font's advance gives
it, so a handwritten glyph lies over the typed glyph it replaces and the U-Net learns a local
mapping (a typed scan keeps its spacing; only the letterforms change). Per-sample jitter of the
geometry (letter and word spacing, size, baseline wobble, per-glyph offsets, slant) is applied to
both renderings: the handwriting follows the typed line wherever it goes, as on a scan of a
curved page or from a worn typewriter, and the target stays predictable from the input (random
geometry in the target alone would teach an L1-trained network to blur or erase). Stroke width
and ink tone vary in the handwriting only; the typed side gets scan blur and noise.
"""
from __future__ import annotations

import functools
import io
import os
from dataclasses import dataclass

import numpy as np
from PIL import Image, ImageChops, ImageDraw, ImageFilter, ImageFont

from operators.errors import ConfigError
from operators.handwriting import LINE_HEIGHT

BASELINE = 46  # pixels from the top of a 64-pixel line
TYPED_SIZE = 30  # typed font size at LINE_HEIGHT: capitals ~21 px, descenders to ~54 px
SUPERSAMPLE = 2
SMALL_PRINT_SHARE = 0.4  # typed lines rendered as photographed small print (x-height 4-11 px), enlarged to model size

FONT_DIRS = ("/usr/share/fonts", "/usr/local/share/fonts", os.path.expanduser("~/.fonts"))
WORDS_FILE = "/usr/share/dict/words"  # Debian's wamerican

# Typed faces seen in training, and faces kept out of it for the held-out figure.
TYPED_FONTS = {
    "train": ("LiberationSans-Regular.ttf", "LiberationSerif-Regular.ttf", "LiberationMono-Regular.ttf",
              "DejaVuSans.ttf", "LiberationSans-Bold.ttf"),
    "heldout": ("DejaVuSerif.ttf", "DejaVuSansMono.ttf"),
}
# The house handwriting: Breip (fonts-breip), an informal print hand with separate letters, full
# upper and lower case, digits and punctuation. Other Debian hands suit less: Humor Sans and the
# bwht faces are capitals only, Kristi is a joined felt-tip script, femkeklaver has outline digits.
HAND_FONT = "Breip.ttf"
# Hand size relative to the typed size, so that x-heights match (measured on Breip vs Liberation).
HAND_SCALE = 1.22
PUNCTUATION = ".,;:!?'-()"
FIT = 0.9  # a handwritten glyph is at most this share of its typed cell wide


@functools.cache
def font_path(file_name: str) -> str:
    """Absolute path of an installed font file, or a ConfigError naming the Debian package."""
    for root in FONT_DIRS:
        for folder, _, files in os.walk(root):
            if file_name in files:
                return os.path.join(folder, file_name)
    raise ConfigError(
        f"font {file_name} is not installed; install Debian's fonts: "
        "apt-get install fonts-breip fonts-liberation fonts-dejavu-core fonts-freefont-ttf"
    )


@functools.cache
def _font(file_name: str, size: int) -> ImageFont.FreeTypeFont:
    return ImageFont.truetype(font_path(file_name), size)


@functools.cache
def word_list(split: str) -> tuple[str, ...]:
    """Lower-case dictionary words of 1-10 letters; one word in ten (by a fixed hash) is held out."""
    try:
        with open(WORDS_FILE, encoding="utf-8") as f:
            words = sorted({w.strip() for w in f if w.strip().isascii() and w.strip().isalpha()
                            and w.strip().islower() and len(w.strip()) <= 10})
    except FileNotFoundError:
        raise ConfigError(f"no word list at {WORDS_FILE}: apt-get install wamerican") from None
    heldout = [w for w in words if sum(map(ord, w)) * 2654435761 % 2**32 % 10 == 0]
    return tuple(heldout if split == "heldout" else sorted(set(words) - set(heldout)))


LINE_KINDS = ("lower", "prose", "caps_digits", "punctuation")
# Share of each kind among training lines: capitals, digits and punctuation are rare in running
# text, so lines made of them are drawn far more often than text would give them.
TRAINING_MIX = (0.10, 0.35, 0.35, 0.20)
UNITS = ("G", "KG", "ML", "C", "CM", "AM", "PM", "NO", "%")


def _number(rng: np.random.Generator) -> str:
    """A whole number of one to four digits."""
    return str(int(rng.integers(0, 10 ** int(rng.integers(1, 5)))))


def _token(rng: np.random.Generator, words: tuple[str, ...], kind: str, first: bool) -> str:
    """One word of a line of `kind`: lower is lower-case words only; prose is mostly lower case with
    some capitals, digits and punctuation; caps_digits is headings, quantities and dates;
    punctuation is words in marks."""
    word = words[int(rng.integers(len(words)))]
    if kind == "lower":
        return word
    roll = rng.random()
    if kind == "caps_digits":
        if roll < 0.45:
            return word.upper()
        number = _number(rng)
        if roll < 0.6:
            return f"{number} {UNITS[int(rng.integers(len(UNITS)))]}"
        if roll < 0.7:
            return f"{int(rng.integers(1, 29)):02d}/{int(rng.integers(1, 13)):02d}/{int(rng.integers(1950, 2030))}"
        return number
    if kind == "punctuation":
        if roll < 0.15:
            return f"({word})"
        if roll < 0.25:
            return f"{word}'s"
        if roll < 0.32:
            return f"{word}-{words[int(rng.integers(len(words)))]}"
        if roll < 0.42:
            return f'"{word}"'
        word = word.capitalize() if rng.random() < 0.3 else word
        return word + PUNCTUATION[int(rng.integers(0, 6))]
    if roll < 0.08:
        return _number(rng)
    if roll < 0.25 or first:
        word = word.capitalize()
    elif roll < 0.28:
        word = word.upper()
    if rng.random() < 0.15:
        return word + PUNCTUATION[int(rng.integers(0, 6))]
    return f"({word})" if rng.random() < 0.03 else word


def kind_line(rng: np.random.Generator, split: str, kind: str, max_chars: int) -> str:
    """A line of `kind` (one of LINE_KINDS) from the split's words, at most `max_chars` long."""
    words = word_list(split)
    parts: list[str] = []
    while True:
        token = _token(rng, words, kind, first=not parts)
        if len(" ".join(parts + [token])) > max_chars:
            return " ".join(parts) if parts else token[:max_chars]
        parts.append(token)


def sample_text(rng: np.random.Generator, split: str, max_chars: int) -> str:
    """A training or held-out line: its kind drawn by TRAINING_MIX."""
    return kind_line(rng, split, LINE_KINDS[int(rng.choice(len(LINE_KINDS), p=TRAINING_MIX))], max_chars)


@dataclass(frozen=True)
class Jitter:
    """One sample's random variation."""

    letter_spacing: float  # extra pixels after each glyph (both renderings)
    word_spacing: float  # scale of the space advance (both renderings)
    size_scale: float  # typed size scale (both renderings)
    wobble_amplitude: float  # baseline sine, pixels (both renderings)
    wobble_period: float
    wobble_phase: float
    glyph_shift: float  # standard deviation of per-glyph vertical offsets, pixels (both renderings)
    slant: float  # horizontal shear, dx per dy (both renderings)
    stroke: int  # extra stroke width at SUPERSAMPLE resolution
    ink: int  # grey level of the handwriting ink
    scan_blur: float  # Gaussian blur radius on the typed rendering
    scan_noise: float  # standard deviation of noise on the typed rendering
    scan_scale: float  # the typed rendering taken down to this share of its size and back (1: untouched)
    scan_quality: int  # JPEG quality of the small rendering (small print photographed by a phone)

    @classmethod
    def draw(cls, rng: np.random.Generator) -> "Jitter":
        """Random jitter within ranges a real typed scan and a tidy hand produce."""
        return cls(
            letter_spacing=float(rng.uniform(-0.5, 2.5)), word_spacing=float(rng.uniform(1.0, 1.5)),
            size_scale=float(rng.uniform(0.94, 1.06)), wobble_amplitude=float(rng.uniform(0.0, 1.5)),
            wobble_period=float(rng.uniform(150, 400)), wobble_phase=float(rng.uniform(0, 2 * np.pi)),
            glyph_shift=float(rng.uniform(0.0, 0.6)), slant=float(rng.uniform(-0.1, 0.2)),
            stroke=int(rng.integers(0, 3)), ink=int(rng.integers(0, 50)),
            scan_blur=float(rng.uniform(0.0, 0.7)), scan_noise=float(rng.uniform(0.0, 6.0)),
            scan_scale=float(rng.uniform(0.3, 0.75)) if rng.random() < SMALL_PRINT_SHARE else 1.0,
            scan_quality=int(rng.integers(55, 90)),
        )


def _write_glyph(image: Image.Image, char: str, font: ImageFont.FreeTypeFont, anchor: tuple[float, float],
                 max_width: float, ink: int) -> None:
    """One handwritten glyph centred on `anchor` (middle of its baseline), narrowed to `max_width`
    where it is wider: a hand letter never spills into its neighbours' cells, so words keep their
    gaps and wide capitals stay apart."""
    left, top, right, bottom = font.getbbox(char, anchor="ms")
    if right - left <= max_width:
        ImageDraw.Draw(image).text(anchor, char, font=font, fill=ink, anchor="ms")
        return
    glyph = Image.new("L", (right - left, bottom - top), 255)
    ImageDraw.Draw(glyph).text((-left, -top), char, font=font, fill=ink, anchor="ms")
    glyph = glyph.resize((max(1, round(max_width)), glyph.height), Image.LANCZOS)
    box = (round(anchor[0] - glyph.width / 2), round(anchor[1] + top))  # inside the line: cells lie 8 px in
    region = image.crop((*box, box[0] + glyph.width, box[1] + glyph.height))
    image.paste(ImageChops.darker(region, glyph), box)


def _small_print(line: Image.Image, jitter: Jitter, rng: np.random.Generator) -> Image.Image:
    """A typed line as small print photographed gives it: taken down to `scan_scale`, blurred, noisy
    and JPEG-compressed at that size (a phone's photo of a page), enlarged back bicubically."""
    small = line.resize((max(1, round(line.width * jitter.scan_scale)), round(line.height * jitter.scan_scale)),
                        Image.BOX)
    if jitter.scan_blur > 0.05:
        small = small.filter(ImageFilter.GaussianBlur(jitter.scan_blur))
    noisy = np.asarray(small, np.float32) + rng.normal(0.0, jitter.scan_noise, (small.height, small.width))
    buffer = io.BytesIO()
    Image.fromarray(np.clip(noisy + 0.5, 0, 255).astype(np.uint8)).save(buffer, "JPEG", quality=jitter.scan_quality)
    return Image.open(buffer).convert("L").resize(line.size, Image.BICUBIC)


def render_pair(text: str, typed_font: str, rng: np.random.Generator, hand_font: str = HAND_FONT,
                jitter: Jitter | None = None) -> tuple[np.ndarray, np.ndarray]:
    """(typed, handwritten) uint8 line images of height LINE_HEIGHT and equal width."""
    jitter = jitter or Jitter.draw(rng)
    s = SUPERSAMPLE
    typed = _font(typed_font, round(TYPED_SIZE * jitter.size_scale * s))
    hand = _font(hand_font, round(TYPED_SIZE * jitter.size_scale * HAND_SCALE * s))
    cells, x = [], 8.0 * s
    for char in text:
        advance = typed.getlength(char) * (jitter.word_spacing if char == " " else 1.0) + jitter.letter_spacing * s
        cells.append((char, x, advance))
        x += advance
    width = int(np.ceil(x + 8 * s)) // s * s + s
    size = (width, LINE_HEIGHT * s)
    typed_image, hand_image = Image.new("L", size, 255), Image.new("L", size, 255)
    typed_draw = ImageDraw.Draw(typed_image)
    for char, left, advance in cells:
        if char == " ":
            continue
        centre = left + advance / 2
        wobble = jitter.wobble_amplitude * np.sin(2 * np.pi * centre / s / jitter.wobble_period + jitter.wobble_phase)
        baseline = BASELINE * s + (wobble + rng.normal(0.0, jitter.glyph_shift + 1e-9)) * s
        typed_draw.text((left, baseline), char, font=typed, fill=0, anchor="ls")
        _write_glyph(hand_image, char, hand, (centre, baseline), FIT * advance, jitter.ink)
    if jitter.stroke:  # a broader pen: FreeType's stroker breaks Breip's overlapping contours, so the ink is dilated
        hand_image = hand_image.filter(ImageFilter.MinFilter(2 * jitter.stroke + 1))
    # Shear about the baseline: x' = x + slant * (baseline - y).
    shear = (1, -jitter.slant, jitter.slant * BASELINE * s, 0, 1, 0)
    typed_image = typed_image.transform(size, Image.AFFINE, shear, resample=Image.BILINEAR, fillcolor=255)
    hand_image = hand_image.transform(size, Image.AFFINE, shear, resample=Image.BILINEAR, fillcolor=255)
    out_size = (width // s, LINE_HEIGHT)
    typed_line = typed_image.resize(out_size, Image.LANCZOS)
    if jitter.scan_scale < 1.0:  # small print photographed at its own size: blur, noise and JPEG there, then
        typed_line = _small_print(typed_line, jitter, rng)  # enlarged to model height, as the operator enlarges it
    else:
        if jitter.scan_blur > 0.05:
            typed_line = typed_line.filter(ImageFilter.GaussianBlur(jitter.scan_blur))
    typed_array = np.asarray(typed_line, np.float32) + rng.normal(0.0, jitter.scan_noise, (LINE_HEIGHT, width // s))
    hand_array = np.asarray(hand_image.resize(out_size, Image.LANCZOS))
    return np.clip(typed_array + 0.5, 0, 255).astype(np.uint8), hand_array


def set_page(lines: list[str], font_file: str, font_size: int, *, size: tuple[int, int] = (1240, 1754),
             pitch: int | None = None, margins: tuple[int, int] = (120, 150), skew_degrees: float = 0.0) -> Image.Image:
    """`lines` set on white paper (grey, `size`) at `font_size`, baselines `pitch` apart (default
    1.8 x the size) from the top-left `margins`, then turned `skew_degrees` counter-clockwise."""
    page = Image.new("L", size, 255)
    draw = ImageDraw.Draw(page)
    font = _font(font_file, font_size)
    pitch = pitch or round(font_size * 1.8)
    for index, text in enumerate(lines):
        draw.text((margins[0], margins[1] + index * pitch), text, font=font, fill=0, anchor="ls")
    if skew_degrees:
        page = page.rotate(skew_degrees, resample=Image.BICUBIC, fillcolor=255)
    return page


def render_page(lines: list[str], typed_font: str, rng: np.random.Generator, *, size: tuple[int, int] = (1240, 1754),
                font_size: int = 28, skew_degrees: float = 0.0) -> np.ndarray:
    """A typed page scan (H, W) uint8: `lines` set at `font_size` from the top-left margins, skewed,
    on toned, noisy paper."""
    page = np.asarray(set_page(lines, typed_font, font_size, size=size, skew_degrees=skew_degrees), np.float32)
    array = page * 0.94 + 8 + rng.normal(0.0, 3.0, page.shape)  # paper tone, noise
    return np.clip(array, 0, 255).astype(np.uint8)
