"""CelebA (Liu et al. 2015) from its original files: aligned face photographs with 40 binary attributes.

Source: Z. Liu, P. Luo, X. Wang, X. Tang, "Deep Learning Face Attributes in the Wild", ICCV 2015
(mmlab.ie.cuhk.edu.hk/projects/CelebA.html). The folder ``$DISENTKIT_DATA/celeba`` (or ``path=``)
holds the files as distributed:

- ``img_align_celeba/000001.jpg`` .. ``202599.jpg``: the "Align&Cropped" 178 x 218 RGB JPEGs;
- ``list_attr_celeba.txt``: line 1 the image count, line 2 the 40 attribute names, then one line
  per image: its file name and 40 values in {1, -1}, separated by one or more spaces;
- ``list_eval_partition.txt`` (needed only for ``split=``): one line per image, its file name
  and 0 (train), 1 (valid) or 2 (test).

CelebA is not a full factor grid: of the ``2**40`` attribute vectors only those that some image
has exist (no more than there are images; :attr:`CelebA.num_combinations` counts them).
:class:`CelebA` is therefore a *labelled image set*: the factors are the attribute values
(``(v + 1) / 2``, so -1 -> 0 and 1 -> 1; each factor has size 2), and

- :meth:`CelebA.sample` draws images uniformly (row ``r ~ U{0..N-1}``) with their attributes;
- :meth:`CelebA.sample_factors` draws attribute vectors from the observed rows (the empirical
  distribution), not the independent product of the factor space;
- :meth:`CelebA.observations` returns, for each requested vector ``a``, an image drawn uniformly
  from ``{r : attributes[r] == a}`` (a ValueError names ``a`` when the set is empty).

Drawing a row uniformly and then an image uniformly among the ``m(a)`` images with its attributes
``a`` gives each image ``r`` probability ``(m(a_r) / N) (1 / m(a_r)) = 1 / N``, so ``sample`` and
``observations(sample_factors)`` have the same distribution. Samplers that build factor vectors independently per factor (the
uniform sampler, weak pairs, the beta-VAE and FactorVAE scores) will ask for vectors that no image
has; pass ``sampler=data.row_sampler()`` where a factor sampler is taken.

Pre-processing (per image, when a batch is read; nothing is decoded at construction): decode the
JPEG with Pillow, cut the centred ``crop_size`` x ``crop_size`` square (default 148: top
``(218 - 148) // 2 = 35``, left ``(178 - 148) // 2 = 15``, the face crop of common VAE pipelines
such as PyTorch-VAE's; DEAR uses 128, other code 108 or 140), resize it to ``image_size``
(default 64) with Pillow-exact Lanczos (:func:`~disentkit.data.files.resize.resize_lanczos`, as the
other loaders do) and return float32 ``x / 255`` in (n, 3, H, W). ``cache_size`` > 0 keeps that many pre-processed
uint8 images in a per-instance LRU cache (12 KB each at 64 x 64; not sent to DataLoader workers).

Example
-------
>>> data = CelebA(split="train", attributes=["Male", "Smiling"])   # doctest: +SKIP
>>> factors, images = data.sample(16, rng=0)      # doctest: +SKIP  (int64 (16, 2), float32 (16, 3, 64, 64))
>>> smiling_women = data.observations([[0, 1]] * 8, rng=0)  # doctest: +SKIP
"""

from __future__ import annotations

import os
from collections import OrderedDict
from pathlib import Path
from typing import Iterator, Sequence

import numpy as np

from disentkit._random import RandomLike, check_random_state
from disentkit.data.base import GroundTruthData
from disentkit.data.factors import FactorSpace
from disentkit.data.files.paths import DATA_ENV, find_data
from disentkit.data.files.resize import resize_lanczos
from disentkit.validation import check_int

__all__ = [
    "CELEBA_ATTRIBUTES",
    "CELEBA_SPLITS",
    "CelebA",
    "CelebAFileError",
    "ObservedRowSampler",
    "celeba",
]

PathLike = str | os.PathLike

CELEBA_REL = "celeba"
CELEBA_URL = (
    "https://mmlab.ie.cuhk.edu.hk/projects/CelebA.html (Align&Cropped Images: img_align_celeba.zip; "
    "Anno/list_attr_celeba.txt; Eval/list_eval_partition.txt)"
)
IMAGE_DIR = "img_align_celeba"
ATTR_FILE = "list_attr_celeba.txt"
PARTITION_FILE = "list_eval_partition.txt"
IMAGE_WIDTH, IMAGE_HEIGHT = 178, 218  # the aligned-and-cropped images
DEFAULT_CROP = 148

#: The 40 attributes in the order of ``list_attr_celeba.txt``.
CELEBA_ATTRIBUTES = (
    "5_o_Clock_Shadow", "Arched_Eyebrows", "Attractive", "Bags_Under_Eyes", "Bald", "Bangs",
    "Big_Lips", "Big_Nose", "Black_Hair", "Blond_Hair", "Blurry", "Brown_Hair", "Bushy_Eyebrows",
    "Chubby", "Double_Chin", "Eyeglasses", "Goatee", "Gray_Hair", "Heavy_Makeup", "High_Cheekbones",
    "Male", "Mouth_Slightly_Open", "Mustache", "Narrow_Eyes", "No_Beard", "Oval_Face", "Pale_Skin",
    "Pointy_Nose", "Receding_Hairline", "Rosy_Cheeks", "Sideburns", "Smiling", "Straight_Hair",
    "Wavy_Hair", "Wearing_Earrings", "Wearing_Hat", "Wearing_Lipstick", "Wearing_Necklace",
    "Wearing_Necktie", "Young",
)

#: ``split`` -> the partition code in ``list_eval_partition.txt`` (``None``: every image).
CELEBA_SPLITS: dict[str, int | None] = {"all": None, "train": 0, "valid": 1, "test": 2}

_ATTR_EXPECTED = (
    "line 1 the image count, line 2 the 40 attribute names, then one line per image: its file name "
    "and 40 values in {1, -1}"
)
_PARTITION_EXPECTED = "one line per image: its file name and 0 (train), 1 (valid) or 2 (test)"


class CelebAFileError(FileNotFoundError, ValueError):
    """A CelebA file or folder is missing (both a ``FileNotFoundError``, as for the other loaders,
    and a ``ValueError``)."""


def _invalid(file: Path, problem: str, expected: str) -> ValueError:
    return ValueError(f"celeba file {file} is not valid: {problem}. Expected {expected}")


def _show(raw: bytes) -> str:
    """A token of a file, for a message (at most 20 characters)."""
    text = raw.decode("utf-8", errors="replace")
    return repr(text if len(text) <= 20 else text[:17] + "...")


# -- text tables ------------------------------------------------------------------------------------
_CHUNK_BYTES = 1 << 22  # the tables are parsed in pieces of about 4 MB (bounded memory)


def _chunks(data: bytes, first_line: int) -> Iterator[tuple[bytes, int, bool]]:
    """Pieces of ``data`` ending at a newline: ``(piece, file line number of its first line, is_last)``."""
    start, line = 0, first_line
    while start < len(data):
        stop = data.find(b"\n", start + _CHUNK_BYTES)
        stop = len(data) if stop < 0 else stop + 1
        piece = data[start:stop]
        yield piece, line, stop == len(data)
        line += piece.count(b"\n")
        start = stop


def _table(
    data: bytes, first_line: int, n_fields: int, file: Path, expected: str, last: bool = True
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Split ``data`` (lines from file line ``first_line`` on) into fields separated by whitespace.

    Vectorised over the bytes: a field starts where a non-space byte follows a space (or the start),
    and its line is the number of newlines before it. Blank lines are skipped. Returns
    ``(line_numbers (m,), starts (m, n_fields), ends (m, n_fields))`` (1-based file line numbers,
    byte offsets into ``data``); a line with another number of fields is a ValueError naming it.
    """
    buf = np.frombuffer(data, dtype=np.uint8)
    word = (buf != 32) & ((buf < 9) | (buf > 13))  # not space, \t, \n, \v, \f or \r
    edge = np.diff(word.view(np.int8), prepend=np.int8(0), append=np.int8(0))
    starts = np.flatnonzero(edge == 1)
    ends = np.flatnonzero(edge == -1)
    if starts.size == 0:
        empty = np.zeros((0, n_fields), dtype=np.int64)
        return np.zeros(0, dtype=np.int64), empty, empty
    line = np.cumsum(buf == 10, dtype=np.int32)[starts]  # newlines before each field
    first = np.concatenate([[0], np.flatnonzero(np.diff(line)) + 1])
    counts = np.diff(np.append(first, starts.size))
    line_numbers = line[first].astype(np.int64) + first_line
    bad = np.flatnonzero(counts != n_fields)
    if bad.size:
        k = int(bad[0])
        hint = " (the last line: a truncated file?)" if last and k == counts.size - 1 else ""
        raise _invalid(file, f"line {line_numbers[k]} has {counts[k]} fields, not {n_fields} (a file name and "
                       f"{n_fields - 1} values){hint}", expected)
    return line_numbers, starts.reshape(-1, n_fields), ends.reshape(-1, n_fields)


def _field_names(data: bytes, starts: np.ndarray, ends: np.ndarray) -> list[str]:
    """The text of the given fields (the file names)."""
    return [data[s:e].decode("utf-8", errors="replace") for s, e in zip(starts.tolist(), ends.tolist())]


def _check_unique(names: np.ndarray, lines: np.ndarray, file: Path, expected: str) -> None:
    _, first, counts = np.unique(names, return_index=True, return_counts=True)
    if np.any(counts > 1):
        k = int(first[np.flatnonzero(counts > 1)].min())
        raise _invalid(file, f"{str(names[k])!r} is listed twice (first on line {lines[k]})", expected)


def _split_header(data: bytes, lines: int, file: Path, expected: str) -> tuple[list[bytes], bytes]:
    """The first ``lines`` lines and the rest of the file; a shorter file is truncated."""
    parts = data.split(b"\n", lines)
    if len(parts) <= lines:
        raise _invalid(file, f"it ends within its {lines}-line header (truncated or empty file)", expected)
    return parts[:lines], parts[lines]


def read_attributes(file: Path) -> tuple[tuple[str, ...], np.ndarray, np.ndarray]:
    """Parse ``list_attr_celeba.txt``: ``(attribute names, file names (N,), values int8 (N, 40) in {0, 1})``.

    Value ``v`` in {1, -1} becomes ``(v + 1) / 2``. Raises a ValueError naming the file and the line
    for a line 1 that is not the image count, a line 2 that is not 40 distinct names, a line without
    exactly 41 fields, a value other than 1 or -1, a repeated file name, or another number of lines
    than line 1 announces (fewer: a truncated file).
    """
    data = Path(file).read_bytes()
    (count_line, names_line), body = _split_header(data, 2, file, _ATTR_EXPECTED)
    try:
        announced = int(count_line.strip())
    except ValueError:
        raise _invalid(file, f"line 1 is {_show(count_line.strip())}, not the image count", _ATTR_EXPECTED) from None
    names = tuple(t.decode("utf-8", errors="replace") for t in names_line.split())
    if len(names) != len(CELEBA_ATTRIBUTES) or len(set(names)) != len(names):
        raise _invalid(file, f"line 2 holds {len(names)} names ({len(set(names))} distinct), not 40 attribute "
                       "names", _ATTR_EXPECTED)
    all_lines, all_files, all_values = [], [], []
    for piece, first_line, last in _chunks(body, 3):
        lines, starts, ends = _table(piece, first_line, 1 + len(names), file, _ATTR_EXPECTED, last)
        buf = np.frombuffer(piece, dtype=np.uint8)
        s, e = starts[:, 1:], ends[:, 1:]
        length, b0 = e - s, buf[s]
        positive = (length == 1) & (b0 == ord("1"))
        negative = (length == 2) & (b0 == ord("-")) & (buf[e - 1] == ord("1"))
        bad = np.argwhere(~(positive | negative))
        if bad.size:
            i, k = (int(x) for x in bad[0])
            value = piece[s[i, k] : e[i, k]]
            raise _invalid(file, f"line {lines[i]}: attribute {names[k]!r} is {_show(value)}, not 1 or -1",
                           _ATTR_EXPECTED)
        all_lines.append(lines)
        all_files += _field_names(piece, starts[:, 0], ends[:, 0])
        all_values.append(positive.astype(np.int8))
    n = len(all_files)
    if n != announced:
        problem = f"line 1 announces {announced} images but {n} lines follow" + (
            " (a truncated file?)" if n < announced else "")
        raise _invalid(file, problem, _ATTR_EXPECTED)
    files = np.array(all_files, dtype=str)
    line_numbers = np.concatenate(all_lines) if all_lines else np.zeros(0, dtype=np.int64)
    _check_unique(files, line_numbers, file, _ATTR_EXPECTED)
    values = np.concatenate(all_values) if all_values else np.zeros((0, len(names)), dtype=np.int8)
    return names, files, values


def read_partition(file: Path, images: np.ndarray) -> np.ndarray:
    """The partition code (0 train, 1 valid, 2 test) of each of ``images`` from ``list_eval_partition.txt``.

    Raises a ValueError naming the file for a line without 2 fields, a code not in {0, 1, 2}, a
    repeated file name, or an image of ``images`` that the file does not list.
    """
    data = Path(file).read_bytes()
    all_lines, all_names, all_codes = [], [], []
    for piece, first_line, last in _chunks(data, 1):
        lines, starts, ends = _table(piece, first_line, 2, file, _PARTITION_EXPECTED, last)
        buf = np.frombuffer(piece, dtype=np.uint8)
        codes = buf[starts[:, 1]].astype(np.int64) - ord("0")
        bad = np.flatnonzero((ends[:, 1] - starts[:, 1] != 1) | (codes < 0) | (codes > 2))
        if bad.size:
            i = int(bad[0])
            raise _invalid(file, f"line {lines[i]}: partition {_show(piece[starts[i, 1] : ends[i, 1]])} is not 0, "
                           "1 or 2", _PARTITION_EXPECTED)
        all_lines.append(lines)
        all_names += _field_names(piece, starts[:, 0], ends[:, 0])
        all_codes.append(codes)
    if not all_names:
        raise _invalid(file, "it lists no images", _PARTITION_EXPECTED)
    names = np.array(all_names, dtype=str)
    _check_unique(names, np.concatenate(all_lines), file, _PARTITION_EXPECTED)
    order = np.argsort(names)
    sorted_names, sorted_codes = names[order], np.concatenate(all_codes)[order]
    pos = np.minimum(np.searchsorted(sorted_names, images), names.size - 1)
    found = sorted_names[pos] == images
    if not np.all(found):
        missing = images[~found]
        raise _invalid(file, f"it does not list {missing.size} image(s) of {ATTR_FILE}, first {str(missing[0])!r}",
                       _PARTITION_EXPECTED)
    return sorted_codes[pos]


# -- images -----------------------------------------------------------------------------------------
def decode_crop(file: Path, crop_size: int) -> np.ndarray:
    """The centred ``crop_size`` square of the 178 x 218 JPEG ``file``: uint8 (crop_size, crop_size, 3).

    The square starts at row ``(218 - crop_size) // 2`` and column ``(178 - crop_size) // 2``.
    Raises :class:`CelebAFileError` if the file is missing, ValueError if it is not a decodable
    JPEG of that size.
    """
    from PIL import Image

    what = f"celeba image {file} (listed in {ATTR_FILE})"
    try:
        with Image.open(file) as img:
            if img.format != "JPEG":
                raise ValueError(f"{what} is a {img.format} file, not a JPEG")
            if img.size != (IMAGE_WIDTH, IMAGE_HEIGHT):
                raise ValueError(f"{what} is {img.size[0]}x{img.size[1]}, expected {IMAGE_WIDTH}x{IMAGE_HEIGHT} "
                                 f"(the aligned images of {IMAGE_DIR}/)")
            rgb = np.asarray(img.convert("RGB"))
    except FileNotFoundError:
        raise CelebAFileError(f"{what} is missing. Get the data from {CELEBA_URL}") from None
    except (OSError, SyntaxError, Image.DecompressionBombError) as err:
        raise ValueError(f"{what} is not a decodable JPEG ({type(err).__name__}: {err})") from err
    top, left = (IMAGE_HEIGHT - crop_size) // 2, (IMAGE_WIDTH - crop_size) // 2
    return rgb[top : top + crop_size, left : left + crop_size]


def _find_folder(path: PathLike | None) -> Path:
    try:
        folder = find_data(path, CELEBA_REL, "celeba", CELEBA_URL, is_dir=True)
    except FileNotFoundError as err:
        raise CelebAFileError(str(err)) from None
    missing = [name for name in (IMAGE_DIR, ATTR_FILE) if not (folder / name).exists()]
    if missing:
        raise CelebAFileError(
            f"celeba: {folder} lacks {' and '.join(str(folder / m) for m in missing)}. Pass path= (the folder "
            f"holding {IMAGE_DIR}/ and {ATTR_FILE}) or set {DATA_ENV} to the folder holding {CELEBA_REL}/. "
            f"Get the data from {CELEBA_URL}"
        )
    if not (folder / IMAGE_DIR).is_dir():
        raise CelebAFileError(f"celeba: {folder / IMAGE_DIR} is not a folder (unzip img_align_celeba.zip there)")
    return folder


# -- the dataset ------------------------------------------------------------------------------------
class ObservedRowSampler:
    """Factor vectors of uniformly drawn rows of a labelled image set (the empirical distribution).

    ``sample(n, rng)`` returns ``factors[r]`` with ``r ~ U{0..N-1}`` i.i.d.: int64 (n, F). Pass it as
    ``sampler=`` where a factor sampler is taken (e.g. ``BatchStream(data, sampler=...)``).
    """

    def __init__(self, factor_space: FactorSpace, factors: np.ndarray):
        self.factor_space = factor_space
        self.factors = factors

    def sample(self, n: int, rng: RandomLike) -> np.ndarray:
        """``n`` observed factor vectors, drawn uniformly over the rows: int64 (n, F)."""
        rows = check_random_state(rng).integers(0, self.factors.shape[0], size=check_int("n", n, 0))
        return self.factors[rows]

    def __repr__(self) -> str:
        return f"ObservedRowSampler({self.factors.shape[0]} rows; {self.factor_space.num_factors} factors)"


class CelebA(GroundTruthData):
    """CelebA aligned faces with binary attribute factors, read lazily from the original files.

    Parameters
    ----------
    path: the folder holding ``img_align_celeba/`` and ``list_attr_celeba.txt`` (or a data root
        holding ``celeba/``); ``None`` reads ``$DISENTKIT_DATA/celeba``.
    split: ``"all"`` (default), ``"train"``, ``"valid"`` or ``"test"`` (needs ``list_eval_partition.txt``).
    attributes: the attribute names used as factors, in the given order (default: all 40, in file order).
    image_size: the side of the returned square images (default 64).
    crop_size: the side of the centred square cut from each 178 x 218 image before resizing
        (default 148; at most 178).
    cache_size: how many pre-processed images to keep in an in-memory LRU cache (default 0: none).

    Factor ``k`` of image ``r`` is ``(v_rk + 1) / 2`` for its value ``v_rk`` in {1, -1}. See the
    module docstring for how :meth:`sample`, :meth:`sample_factors` and :meth:`observations` draw.

    Example
    -------
    >>> data = CelebA("~/data/celeba", split="test", attributes=["Eyeglasses", "Male"])  # doctest: +SKIP
    >>> data.observations([[1, 0], [1, 0]], rng=0).shape                               # doctest: +SKIP
    (2, 3, 64, 64)
    """

    source = "file"
    stochastic = True  # an image is drawn among those that share the requested attributes

    def __init__(
        self,
        path: PathLike | None = None,
        split: str = "all",
        attributes: Sequence[str] | None = None,
        image_size: int = 64,
        crop_size: int = DEFAULT_CROP,
        cache_size: int = 0,
    ):
        if split not in CELEBA_SPLITS:
            raise ValueError(f"unknown split {split!r}; valid splits: {', '.join(CELEBA_SPLITS)}")
        self.image_size = check_int("image_size", image_size, 1, maximum=4096)
        self.crop_size = check_int("crop_size", crop_size, 1, maximum=IMAGE_WIDTH)
        self.cache_size = check_int("cache_size", cache_size, 0, maximum=2**31)
        self.split = split
        self.folder = _find_folder(path)
        self.image_dir = self.folder / IMAGE_DIR
        names, files, values = read_attributes(self.folder / ATTR_FILE)
        self.attribute_names = names
        if attributes is None:
            columns = list(range(len(names)))
        else:
            if isinstance(attributes, str):
                attributes = [attributes]
            unknown = [a for a in attributes if a not in names]
            if unknown or len(attributes) == 0 or len(set(attributes)) != len(attributes):
                raise ValueError(f"attributes must be distinct names of {ATTR_FILE}, got {list(attributes)} "
                                 f"(unknown: {unknown}); valid names: {', '.join(names)}")
            columns = [names.index(a) for a in attributes]
        code = CELEBA_SPLITS[split]
        if code is not None:
            partition = self.folder / PARTITION_FILE
            if not partition.is_file():
                raise CelebAFileError(f"celeba: split={split!r} needs {partition}, which is missing. Get it from "
                                      f"{CELEBA_URL}")
            keep = read_partition(partition, files) == code
            files, values = files[keep], values[keep]
        if files.size == 0:
            raise ValueError(f"celeba: split {split!r} of {self.folder} holds no images")
        self.file_names = files
        self.factors = np.ascontiguousarray(values[:, columns], dtype=np.int64)
        self._space = FactorSpace(tuple(names[c] for c in columns), (2,) * len(columns))
        self._shape = (3, self.image_size, self.image_size)
        # rows grouped by attribute vector: row order[start[g] : start[g] + count[g]] have vector keys[g]
        codes = self.factors @ self._space.strides
        self._order = np.argsort(codes, kind="stable")
        sorted_codes = codes[self._order]
        self._start = np.concatenate([[0], np.flatnonzero(np.diff(sorted_codes)) + 1]).astype(np.int64)
        self._keys = sorted_codes[self._start]
        self._count = np.diff(np.append(self._start, codes.size))
        self._cache: OrderedDict[int, np.ndarray] = OrderedDict()

    # -- GroundTruthData ------------------------------------------------------------------------
    @property
    def factor_space(self) -> FactorSpace:
        return self._space

    @property
    def observation_shape(self) -> tuple[int, int, int]:
        return self._shape

    @property
    def num_images(self) -> int:
        """The number of images ``N`` in the split."""
        return int(self.factors.shape[0])

    @property
    def num_combinations(self) -> int:
        """The number of distinct attribute vectors that some image has."""
        return int(self._keys.size)

    def row_sampler(self) -> ObservedRowSampler:
        """A factor sampler drawing observed rows uniformly (see :class:`ObservedRowSampler`)."""
        return ObservedRowSampler(self._space, self.factors)

    def sample_factors(self, n: int, rng: RandomLike) -> np.ndarray:
        """Attribute vectors of ``n`` uniformly drawn images (the empirical distribution): int64 (n, F)."""
        return self.row_sampler().sample(n, rng)

    def sample(self, n: int, rng: RandomLike) -> tuple[np.ndarray, np.ndarray]:
        """``n`` images drawn uniformly (with replacement) and their attributes: ``(factors, images)``."""
        rows = check_random_state(rng).integers(0, self.num_images, size=check_int("n", n, 0))
        return self.factors[rows], self.images(rows)

    def _render(self, factors: np.ndarray, rng: np.random.Generator | None) -> np.ndarray:
        """For each vector, an image drawn uniformly among those with exactly these attributes."""
        assert rng is not None
        return self.images(self.rows_of(factors, rng))

    def rows_of(self, factors: np.ndarray, rng: RandomLike) -> np.ndarray:
        """For each factor vector (n, F), a row drawn uniformly among the rows with that vector: int64 (n,).

        A vector that no image has is a ValueError naming it.
        """
        arr = self._space.validate(factors)
        gen = check_random_state(rng)
        codes = arr @ self._space.strides
        group = np.minimum(np.searchsorted(self._keys, codes), self._keys.size - 1)
        absent = np.flatnonzero(self._keys[group] != codes)
        if absent.size:
            vector = arr[absent[0]]
            on = [self._space.names[k] for k in np.flatnonzero(vector)]
            raise ValueError(
                f"no celeba image (split {self.split!r}) has exactly the attributes {vector.tolist()} "
                f"(1: {', '.join(on) or 'none'}; all other attributes 0); {self.num_combinations} combinations "
                "exist: draw factors with sample_factors or row_sampler()"
            )
        pick = self._start[group] + gen.integers(0, self._count[group])
        return self._order[pick]

    def images(self, rows: np.ndarray | Sequence[int]) -> np.ndarray:
        """The pre-processed images of ``rows`` (indices into :attr:`file_names`): float32 (n, 3, H, W).

        Each distinct row is decoded once per call (or taken from the LRU cache).
        """
        idx = np.asarray(rows, dtype=np.int64).reshape(-1)
        if idx.size and (idx.min() < 0 or idx.max() >= self.num_images):
            raise ValueError(f"rows must be in [0, {self.num_images - 1}], got [{idx.min()}, {idx.max()}]")
        if idx.size == 0:
            return np.zeros((0, *self._shape), dtype=np.float32)
        uniq, inverse = np.unique(idx, return_inverse=True)
        small = self._load(uniq)[inverse.reshape(-1)]
        out = small.astype(np.float32)
        out /= np.float32(255)
        return np.ascontiguousarray(out.transpose(0, 3, 1, 2))

    def _load(self, rows: np.ndarray) -> np.ndarray:
        """uint8 (len(rows), H, W, 3): cropped and resized, through the LRU cache when enabled."""
        size = self.image_size
        out = np.empty((rows.size, size, size, 3), dtype=np.uint8)
        todo = []
        for i, r in enumerate(rows.tolist()):
            hit = self._cache.get(r)
            if hit is None:
                todo.append(i)
            else:
                self._cache.move_to_end(r)
                out[i] = hit
        if todo:
            files = [self.image_dir / str(self.file_names[rows[i]]) for i in todo]
            crops = np.stack([decode_crop(file, self.crop_size) for file in files])  # JPEG decoding: per file
            out[todo] = resize_lanczos(crops, (size, size))
            if self.cache_size:
                for i in todo[-self.cache_size :]:
                    self._cache[int(rows[i])] = out[i].copy()
                while len(self._cache) > self.cache_size:
                    self._cache.popitem(last=False)
        return out

    # -- misc -----------------------------------------------------------------------------------
    def __len__(self) -> int:
        """The number of images (not the ``2**F`` points of the factor space)."""
        return self.num_images

    def __getstate__(self) -> dict:
        return {**self.__dict__, "_cache": OrderedDict()}

    def __repr__(self) -> str:
        label = self.name or "celeba"
        return (f"<{label}: {self.num_images} images, split {self.split!r}, {self._space.num_factors} binary "
                f"attributes ({self.num_combinations} combinations); images 3x{self.image_size}x{self.image_size}; "
                f"{self.source}>")


def celeba(
    path: PathLike | None = None,
    split: str = "all",
    attributes: Sequence[str] | None = None,
    image_size: int = 64,
    crop_size: int = DEFAULT_CROP,
    cache_size: int = 0,
) -> CelebA:
    """CelebA from its original files; the same as :class:`CelebA` (a loader in the style of
    :mod:`disentkit.data.loaders`)."""
    return CelebA(path, split=split, attributes=attributes, image_size=image_size, crop_size=crop_size,
                  cache_size=cache_size)
