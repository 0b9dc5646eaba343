"""ICC v2 matrix/curve RGB profiles built from a colour space's primaries, white and tone curve, so
that tests hold photos in Adobe RGB, Display P3 and ProPhoto without shipping profile files."""
from __future__ import annotations

import struct

import numpy as np

D50 = np.array([0.9642, 1.0, 0.8249])
D65_XY, D50_XY = (0.3127, 0.3290), (0.3457, 0.3585)
BRADFORD = np.array([[0.8951, 0.2664, -0.1614], [-0.7502, 1.7135, 0.0367], [0.0389, -0.0685, 1.0296]])
SRGB_CURVE = (2.4, 1 / 1.055, 0.055 / 1.055, 1 / 12.92, 0.04045)  # parametric curve type 3

SPACES = {  # name: (red, green, blue primaries as xy, white xy, tone curve: a gamma or sRGB's)
    "Adobe RGB (1998)": (((0.64, 0.33), (0.21, 0.71), (0.15, 0.06)), D65_XY, 563 / 256),
    "Display P3": (((0.680, 0.320), (0.265, 0.690), (0.150, 0.060)), D65_XY, SRGB_CURVE),
    "ProPhoto RGB": (((0.7347, 0.2653), (0.1596, 0.8404), (0.0366, 0.0001)), D50_XY, 1.8),
}


def _xyz(xy: tuple[float, float]) -> np.ndarray:
    x, y = xy
    return np.array([x / y, 1.0, (1 - x - y) / y])


def _s15(value: float) -> bytes:
    return struct.pack(">i", round(value * 65536))


def _tag_xyz(xyz: np.ndarray) -> bytes:
    return b"XYZ " + bytes(4) + b"".join(_s15(v) for v in xyz)


def _tag_curve(curve: float | tuple[float, ...]) -> bytes:
    if isinstance(curve, tuple):
        return b"para" + bytes(4) + struct.pack(">HH", 3, 0) + b"".join(_s15(v) for v in curve)
    return b"curv" + bytes(4) + struct.pack(">IH", 1, round(curve * 256)) + bytes(2)


def _tag_text(text: str) -> bytes:
    return b"text" + bytes(4) + text.encode() + b"\0"


def _tag_desc(text: str) -> bytes:
    ascii_text = text.encode() + b"\0"
    return b"desc" + bytes(4) + struct.pack(">I", len(ascii_text)) + ascii_text + bytes(4 + 4 + 2 + 1 + 67)


def profile(name: str) -> bytes:
    """The ICC profile of one of SPACES, its primaries adapted to D50 with Bradford, as ICC needs."""
    primaries, white_xy, curve = SPACES[name]
    columns = np.stack([_xyz(p) for p in primaries], axis=1)
    white = _xyz(white_xy)
    rgb_to_xyz = columns * np.linalg.solve(columns, white)
    cone_src, cone_dst = BRADFORD @ white, BRADFORD @ D50
    adapt = np.linalg.inv(BRADFORD) @ np.diag(cone_dst / cone_src) @ BRADFORD
    matrix = adapt @ rgb_to_xyz
    tags = [(b"desc", _tag_desc(name)), (b"cprt", _tag_text("no copyright, test data")), (b"wtpt", _tag_xyz(D50)),
            (b"rXYZ", _tag_xyz(matrix[:, 0])), (b"gXYZ", _tag_xyz(matrix[:, 1])), (b"bXYZ", _tag_xyz(matrix[:, 2])),
            (b"rTRC", _tag_curve(curve)), (b"gTRC", _tag_curve(curve)), (b"bTRC", _tag_curve(curve))]
    offset = 128 + 4 + 12 * len(tags)
    table, data = [], b""
    for signature, body in tags:
        body += bytes(-len(body) % 4)
        table.append(signature + struct.pack(">II", offset + len(data), len(body)))
        data += body
    size = offset + len(data)
    header = (struct.pack(">I", size) + b"lcms" + struct.pack(">I", 0x02100000) + b"mntrRGB XYZ "
              + struct.pack(">6H", 2026, 1, 1, 0, 0, 0) + b"acsp" + bytes(4) + bytes(4) + bytes(4) + bytes(4)
              + bytes(8) + struct.pack(">I", 0) + b"".join(_s15(v) for v in D50) + bytes(4) + bytes(16) + bytes(28))
    assert len(header) == 128
    return header + struct.pack(">I", len(tags)) + b"".join(table) + data
