"""The lensfun database that lensfunpy ships, read once per process.

lensfunpy installs lensfun's XML files (database format version 1) in
``lensfunpy/db_files/``.  They are found through the import system without
importing lensfunpy's compiled module, read with
:func:`mountkit.formats.lensfun_xml.read_lensfun_xml` in file-name order
(lensfun's rule that a later entry replaces an earlier one with the same
identity then applies across files), and cached: the result is immutable.
"""

from __future__ import annotations

import functools
import importlib.metadata
import importlib.util
from pathlib import Path

from mountkit.errors import MountkitError
from mountkit.formats.lensfun_xml import LensfunDocument, read_lensfun_xml
from mountkit.profile import Provenance

#: Licence of lensfun's database (lensfun's ``data/db`` is CC BY-SA 3.0).
LICENCE = "CC-BY-SA-3.0"


def lensfunpy_version() -> str:
    """The installed lensfunpy's version ("1.18.0"), or "unknown"."""
    try:
        return importlib.metadata.version("lensfunpy")
    except importlib.metadata.PackageNotFoundError:
        return "unknown"


def db_files() -> list[Path]:
    """The XML files of lensfunpy's bundled database, sorted by name.

    Raises
    ------
    MountkitError
        When lensfunpy is not installed or ships no database files.
    """
    spec = importlib.util.find_spec("lensfunpy")
    if spec is None or not spec.submodule_search_locations:
        raise MountkitError("lensfunpy is not installed, so the lensfun database is missing; "
                            "install it with `pip install lensfunpy`")
    for location in spec.submodule_search_locations:
        folder = Path(location) / "db_files"
        files = sorted(folder.glob("*.xml"))
        if files:
            return files
    raise MountkitError(f"lensfunpy at {list(spec.submodule_search_locations)} has no db_files/*.xml; "
                        "reinstall lensfunpy")


def provenance_of(path: str | Path) -> Provenance:
    """Provenance of the profiles read from one bundled file."""
    return Provenance(source=f"lensfun database (lensfunpy {lensfunpy_version()}), {Path(path).name}",
                      licence=LICENCE)


@functools.lru_cache(maxsize=1)
def bundled_database() -> LensfunDocument:
    """Every mount, camera and lens of lensfunpy's bundled database (read once, then cached).

    Examples
    --------
    >>> db = bundled_database()
    >>> len(db.lenses) > 1000 and len(db.cameras) > 900
    True
    """
    return read_lensfun_xml(db_files(), provenance=provenance_of)
