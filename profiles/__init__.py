"""mountkit's shipped lens profiles (data, not code).

This directory installs as the data package ``mountkit_profiles`` so that the
TOML files below it are found after a regular ``pip install``; see
``mountkit.profiles_plugin.shipped_profiles_dir``.
"""
