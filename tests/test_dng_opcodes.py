"""Opcode lists: byte layouts, round trips, malformed lists, and which opcodes a stage applies."""

from __future__ import annotations

import math
import struct

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from mountkit.dng.opcodes import (
    FLAG_OPTIONAL,
    FixVignetteRadial,
    GainMap,
    InvalidOpcode,
    OpcodeError,
    OpcodeList,
    UnsupportedOpcode,
    WarpFisheye,
    WarpRectilinear,
    WarpRectilinear2,
    parse_opcode_list,
    serialise_opcode_list,
)
from mountkit.errors import FrameError, MountkitError

# -- hand-packed blobs, written from the layout tables of the DNG specification --


def header(oid: int, nbytes: int, flags: int = 1, version=(1, 3, 0, 0)) -> bytes:
    return struct.pack(">I4BII", oid, *version, flags, nbytes)


def warp_rectilinear_blob(planes, center=(0.5, 0.5), flags=1) -> bytes:
    body = struct.pack(">I", len(planes)) + b"".join(struct.pack(">6d", *p) for p in planes)
    body += struct.pack(">2d", *center)
    return header(1, len(body), flags) + body


def vignette_blob(k, center=(0.5, 0.5), flags=1) -> bytes:
    body = struct.pack(">7d", *k, *center)
    return header(3, len(body), flags) + body


def gain_map_blob(top, left, bottom, right, plane, planes, rp, cp, gains, spacing, origin, flags=1) -> bytes:
    pv, ph, mp = gains.shape
    body = struct.pack(">iiiiIIIIII", top, left, bottom, right, plane, planes, rp, cp, pv, ph)
    body += struct.pack(">dddd", *spacing, *origin) + struct.pack(">I", mp)
    body += gains.astype(">f4").tobytes()
    return header(9, len(body), flags) + body


def listing(*opcode_blobs: bytes) -> bytes:
    return struct.pack(">I", len(opcode_blobs)) + b"".join(opcode_blobs)


def test_hand_packed_list_parses_to_the_documented_fields():
    gains = np.arange(3 * 4 * 2, dtype=np.float32).reshape(3, 4, 2) / 10 + 1
    blob = listing(
        warp_rectilinear_blob([(1.0, -0.1, 0.02, -0.003, 1e-4, -2e-4)], center=(0.48, 0.52)),
        vignette_blob((0.5, -0.25, 0.125, 0.0, 0.01), center=(0.5, 0.49), flags=3),
        gain_map_blob(1, 0, 60, 90, 0, 1, 2, 2, gains, (0.5, 1 / 3), (0.0, 0.01)),
    )
    lst = parse_opcode_list(blob, source="hand.dng", list_number=3)
    assert [type(op) for op in lst] == [WarpRectilinear, FixVignetteRadial, GainMap]
    w, v, g = lst
    assert w.radial == ((1.0, -0.1, 0.02, -0.003),) and w.tangential == ((1e-4, -2e-4),)
    assert w.center == (0.48, 0.52) and w.planes == 1 and w.version == (1, 3, 0, 0) and w.optional
    assert v.k == (0.5, -0.25, 0.125, 0.0, 0.01) and v.center == (0.5, 0.49)
    assert v.optional and v.skip_if_preview
    assert (g.top, g.left, g.bottom, g.right, g.row_pitch, g.col_pitch) == (1, 0, 60, 90, 2, 2)
    assert g.points == (3, 4) and g.map_planes == 2 and g.spacing == (0.5, 1 / 3) and g.origin == (0.0, 0.01)
    np.testing.assert_array_equal(g.gains, gains)
    # and the serialiser writes exactly the documented bytes back
    assert lst.to_bytes() == blob


def test_parameter_block_sizes_match_the_specification():
    assert len(WarpRectilinear(radial=[(1, 0, 0, 0)]).params_bytes()) == 68
    assert len(WarpRectilinear(radial=[(1, 0, 0, 0)] * 3).params_bytes()) == 164
    assert len(WarpFisheye(radial=[(1, 0, 0, 0)] * 3).params_bytes()) == 4 + 96 + 16
    assert len(FixVignetteRadial(k=(0, 0, 0, 0, 0)).params_bytes()) == 56
    gm = GainMap(top=0, left=0, bottom=2, right=2, spacing=(1 / 22, 1 / 22), gains=np.ones((23, 23, 1)))
    assert len(gm.params_bytes()) == 2192  # GoPro HERO6's maps: 76 + 4 * 23 * 23
    wr2 = WarpRectilinear2(radial=[(1,) + (0,) * 14] * 3)
    assert len(wr2.params_bytes()) == 4 + 3 * 19 * 8 + 16 + 4
    assert wr2.version == (1, 6, 0, 0)


finite = st.floats(-10, 10, allow_nan=False, width=64)
unit = st.floats(0, 1, allow_nan=False)


@st.composite
def opcodes(draw):
    kind = draw(st.sampled_from(["wr", "fe", "vig", "gm", "wr2", "other"]))
    flags = draw(st.sampled_from([0, 1, 2, 3]))
    n = draw(st.sampled_from([1, 3]))
    center = (draw(unit), draw(unit))
    if kind == "wr":
        return WarpRectilinear(radial=[draw(st.tuples(finite, finite, finite, finite)) for _ in range(n)],
                               tangential=[draw(st.tuples(finite, finite)) for _ in range(n)],
                               center=center, flags=flags)
    if kind == "fe":
        return WarpFisheye(radial=[draw(st.tuples(finite, finite, finite, finite)) for _ in range(n)],
                           center=center, flags=flags)
    if kind == "vig":
        return FixVignetteRadial(k=draw(st.tuples(finite, finite, finite, finite, finite)), center=center,
                                 flags=flags)
    if kind == "gm":
        pv, ph, mp = draw(st.integers(1, 6)), draw(st.integers(1, 6)), draw(st.integers(1, 4))
        gains = np.asarray(draw(st.lists(st.floats(0.25, 4, width=32), min_size=pv * ph * mp,
                                         max_size=pv * ph * mp)), dtype=np.float32).reshape(pv, ph, mp)
        top, left = draw(st.integers(0, 3)), draw(st.integers(0, 3))
        return GainMap(top=top, left=left, bottom=top + draw(st.integers(1, 50)),
                       right=left + draw(st.integers(1, 50)), plane=0, planes=draw(st.integers(1, 3)),
                       row_pitch=draw(st.integers(1, 4)), col_pitch=draw(st.integers(1, 4)),
                       spacing=(draw(st.floats(0.01, 1)), draw(st.floats(0.01, 1))),
                       origin=(draw(st.floats(-1, 1)), draw(st.floats(-1, 1))), gains=gains, flags=flags)
    if kind == "wr2":
        lo = draw(st.floats(0, 0.5))
        return WarpRectilinear2(radial=[tuple(draw(st.lists(finite, min_size=15, max_size=15))) for _ in range(n)],
                                tangential=[draw(st.tuples(finite, finite)) for _ in range(n)],
                                valid_range=[(lo, draw(st.floats(0.6, 1)))] * n, center=center,
                                reciprocal=draw(st.booleans()), flags=flags)
    return UnsupportedOpcode(raw_id=draw(st.sampled_from([4, 5, 6, 7, 8, 10, 11, 12, 13, 99, 2**32 - 1])),
                             data=draw(st.binary(max_size=40)), flags=flags)


@settings(max_examples=150, deadline=None)
@given(st.lists(opcodes(), max_size=5))
def test_round_trip_is_byte_exact(ops):
    blob = serialise_opcode_list(ops)
    lst = parse_opcode_list(blob)
    assert len(lst) == len(ops)
    assert lst.to_bytes() == blob
    for a, b in zip(lst, ops, strict=False):
        assert type(a) is type(b) and a.id == b.id and a.flags == b.flags
        assert a == b


@settings(max_examples=60, deadline=None)
@given(st.lists(opcodes(), min_size=1, max_size=4), st.data())
def test_every_truncation_is_a_clear_opcode_error(ops, data):
    blob = serialise_opcode_list(ops)
    cut = data.draw(st.integers(0, len(blob) - 1))
    with pytest.raises(OpcodeError) as info:
        parse_opcode_list(blob[:cut], source="cut.dng", list_number=2)
    msg = str(info.value)
    assert msg.startswith("cut.dng, OpcodeList2 (tag 51009)")
    assert "truncated" in msg or "left after" in msg or "declares" in msg


@settings(max_examples=200, deadline=None)
@given(st.lists(opcodes(), min_size=1, max_size=3), st.data())
def test_corrupted_bytes_never_raise_anything_but_opcode_error(ops, data):
    blob = bytearray(serialise_opcode_list(ops))
    for _ in range(data.draw(st.integers(1, 4))):
        i = data.draw(st.integers(0, len(blob) - 1))
        blob[i] = data.draw(st.integers(0, 255))
    try:
        lst = parse_opcode_list(bytes(blob))
    except OpcodeError:
        return
    # whatever parsed re-serialises to the same bytes (unknown and invalid opcodes are kept raw)
    assert lst.to_bytes() == bytes(blob)


def test_trailing_bytes_and_absurd_counts_are_refused():
    good = listing(vignette_blob((0.1, 0, 0, 0, 0)))
    with pytest.raises(OpcodeError, match="2 bytes are left after the last of its 1 opcodes"):
        parse_opcode_list(good + b"\0\0", source="f.dng", list_number=3)
    huge = struct.pack(">I", 0xFFFFFFFF) + good[4:]
    with pytest.raises(OpcodeError, match="declares 4294967295 opcodes"):
        parse_opcode_list(huge, source="f.dng", list_number=3)
    with pytest.raises(OpcodeError, match="too short even for its opcode count"):
        parse_opcode_list(b"\0\0", list_number=1)
    assert len(parse_opcode_list(b"\0\0\0\0")) == 0
    # OpcodeError is a FrameError and a MountkitError
    assert issubclass(OpcodeError, FrameError) and issubclass(OpcodeError, MountkitError)


def test_wrong_byte_count_absurd_planes_and_nan_make_invalid_opcodes():
    good_w = warp_rectilinear_blob([(1, 0.01, 0, 0, 0, 0)])
    # a WarpRectilinear claiming 3 planes with data for 1 (wrong byte count for its plane count)
    lying = bytearray(good_w)
    struct.pack_into(">I", lying, 16, 3)
    # absurd plane count
    absurd = bytearray(good_w)
    struct.pack_into(">I", absurd, 16, 0xFFFFFFFF)
    # NaN coefficient
    nan = bytearray(good_w)
    struct.pack_into(">d", nan, 20 + 8, math.nan)
    # vignette with a 48-byte block (one double short) and a declared count that matches it
    short_v = header(3, 48) + struct.pack(">6d", 0.1, 0, 0, 0, 0, 0.5)
    # gain map whose declared 65535 x 65535 points do not fit its bytes
    gm = bytearray(gain_map_blob(0, 0, 10, 10, 0, 1, 1, 1, np.ones((2, 2, 1), np.float32), (1, 1), (0, 0)))
    struct.pack_into(">II", gm, 16 + 32, 65535, 65535)
    # centre outside 0..1
    off = vignette_blob((0.1, 0, 0, 0, 0), center=(1.5, 0.5))
    lst = parse_opcode_list(listing(bytes(lying), bytes(absurd), bytes(nan), short_v, bytes(gm), off),
                            source="bad.dng", list_number=3)
    assert all(isinstance(op, InvalidOpcode) for op in lst)
    reasons = [str(op.error) for op in lst]
    assert "opcode #1 (WarpRectilinear), field 'byte count': has 68 parameter bytes; 3 plane(s) need exactly 164" \
        in reasons[0]
    assert "plane count 4294967295 is outside 1..4" in reasons[1]
    assert "contains nan" in reasons[2] and "radial[0]" in reasons[2]
    assert "has 48 parameter bytes; 5 coefficients and a centre need exactly 56" in reasons[3]
    assert "65535 x 65535 x 1 map need exactly" in reasons[4]
    assert "outside 0..1" in reasons[5]
    assert all(r.startswith("bad.dng, OpcodeList3 (tag 51022), opcode #") for r in reasons)
    # the raw bytes are kept, so the list still round-trips
    assert lst.to_bytes() == listing(bytes(lying), bytes(absurd), bytes(nan), short_v, bytes(gm), off)


def test_applicable_skips_optional_and_refuses_required_problems():
    ok = vignette_blob((0.1, 0, 0, 0, 0))
    unknown_optional = header(99, 4, flags=FLAG_OPTIONAL) + b"abcd"
    unknown_required = header(99, 4, flags=0) + b"abcd"
    unsupported_required = header(5, 12, flags=0) + b"\0" * 12  # FixBadPixelsList
    broken_optional = header(3, 8, flags=1) + b"\0" * 8

    lst = parse_opcode_list(listing(ok, unknown_optional, broken_optional), source="a.dng", list_number=3)
    run, skipped = lst.applicable()
    assert [op.label for op in run] == ["FixVignetteRadial"]
    assert [s.index for s in skipped] == [1, 2]
    assert "unknown id 99" in skipped[0].reason and "malformed" in skipped[1].reason

    for blob, what in ((unknown_required, "has unknown id 99"),
                       (unsupported_required, "(FixBadPixelsList): required opcode is not supported")):
        lst = parse_opcode_list(listing(ok, blob), source="a.dng", list_number=2)
        with pytest.raises(OpcodeError, match=r"a\.dng, OpcodeList2 \(tag 51009\), opcode #2") as info:
            lst.applicable()
        assert what in str(info.value) and "--corrections profile or none" in str(info.value)

    # a caller that supports only some ids gets the others treated as unsupported
    lst = parse_opcode_list(listing(ok), list_number=3)
    run, skipped = lst.applicable(supported={1})
    assert run == () and len(skipped) == 1


def test_warp_rectilinear2_fallback_rule():
    wr2 = WarpRectilinear2(radial=[(1.0, 0.01) + (0.0,) * 13], flags=FLAG_OPTIONAL)
    wr = WarpRectilinear(radial=[(1.0, 0.01, 0, 0)])
    vig = FixVignetteRadial(k=(0.1, 0, 0, 0, 0))
    run, skipped = OpcodeList((vig, wr2, wr)).applicable()
    assert run == (vig, wr2) and skipped[0].opcode is wr and "fallback" in skipped[0].reason
    # a reader without WarpRectilinear2 applies the fallback instead
    run, skipped = OpcodeList((vig, wr2, wr)).applicable(supported={1, 3})
    assert run == (vig, wr)
    # a required WarpRectilinear2 does not make the next warp a fallback
    req = WarpRectilinear2(radial=wr2.radial, flags=0)
    run, _ = OpcodeList((req, wr)).applicable()
    assert run == (req, wr)


def test_constructing_invalid_opcodes_raises():
    with pytest.raises(OpcodeError, match="plane count 5 is outside 1..4"):
        WarpRectilinear(radial=[(1, 0, 0, 0)] * 5)
    with pytest.raises(OpcodeError, match="contains inf"):
        FixVignetteRadial(k=(math.inf, 0, 0, 0, 0))
    with pytest.raises(OpcodeError, match="area .* is empty"):
        GainMap(top=5, left=0, bottom=5, right=3, spacing=(1, 1), gains=np.ones((1, 1)))
    with pytest.raises(OpcodeError, match="gain at map point"):
        GainMap(top=0, left=0, bottom=5, right=3, spacing=(1, 1), gains=np.array([[1.0, np.nan]]))
    with pytest.raises(OpcodeError, match="0 <= min < max <= 1"):
        WarpRectilinear2(radial=[(1,) + (0,) * 14], valid_range=[(0.5, 0.2)])


def test_describe_is_json_ready():
    import json

    gm = GainMap(top=0, left=1, bottom=10, right=10, row_pitch=2, col_pitch=2, spacing=(0.5, 0.5),
                 gains=np.array([[1.0, 1.5, 2.0]] * 3))
    lst = OpcodeList((gm, WarpRectilinear(radial=[(1, 0, 0, 0)] * 3)), list_number=2)
    d = json.loads(json.dumps(lst.describe(full=True)))
    assert d["tag"] == 51009 and d["count"] == 2
    assert d["opcodes"][0]["gain_max"] == 2.0 and d["opcodes"][0]["gains"][0][2] == [2.0]
    assert d["opcodes"][1]["planes"] == 3
