"""A mountkit plugin whose hooks raise part-way through (for tests).

The mount hook registers a mount and then raises: the registry must drop
that mount (what a failing hook registered is rolled back).  The command hook
adds a command and then raises: the registry reports it; the command line
keeps its other commands.
"""

import mountkit


@mountkit.hookimpl
def mountkit_register_mounts(register):
    register(mountkit.Mount(name="Half-registered mount"))
    raise ValueError("mount table is corrupt (on purpose)")


@mountkit.hookimpl
def mountkit_register_commands(cli):
    raise KeyError("no such command table (on purpose)")
