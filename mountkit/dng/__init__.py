"""DNG opcode lists: read the lens corrections a DNG carries, and write a profile's into one.

* :mod:`mountkit.dng.opcodes` parses and serialises OpcodeList1/2/3 byte streams;
* :mod:`mountkit.dng.tags` reads the opcode tags from a DNG file (pixels are
  never decoded, so it works on any compression, VC-5 included);
* :mod:`mountkit.dng.warp` and :mod:`mountkit.dng.gain` hold the mathematics
  of the opcodes, as the Adobe DNG SDK evaluates them;
* :mod:`mountkit.dng.embed` writes an OpcodeList3 into a DNG, keeping every
  other byte;
* :mod:`mountkit.dng.plugin` is the built-in plugin (correction models and the
  ``mountkit dng`` commands).

See ``docs/dng.md``.
"""

from __future__ import annotations

from .opcodes import (
    FixVignetteRadial,
    GainMap,
    InvalidOpcode,
    Opcode,
    OpcodeError,
    OpcodeList,
    UnsupportedOpcode,
    WarpFisheye,
    WarpRectilinear,
    WarpRectilinear2,
    parse_opcode_list,
    serialise_opcode_list,
)

__all__ = [
    "FixVignetteRadial",
    "GainMap",
    "InvalidOpcode",
    "Opcode",
    "OpcodeError",
    "OpcodeList",
    "UnsupportedOpcode",
    "WarpFisheye",
    "WarpRectilinear",
    "WarpRectilinear2",
    "parse_opcode_list",
    "serialise_opcode_list",
]
