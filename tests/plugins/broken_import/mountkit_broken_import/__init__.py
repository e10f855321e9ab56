"""A mountkit plugin that fails to import, as a plugin with a missing dependency does."""

raise RuntimeError("mountkit-broken-import cannot be imported (on purpose)")
