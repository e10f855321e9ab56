"""Readers and writers of lens-profile file formats (native TOML, lensfun XML, Adobe LCP).

Each module here is a pure format layer: text in, :class:`mountkit.Lens` /
:class:`mountkit.Camera` objects out, and back.
"""
