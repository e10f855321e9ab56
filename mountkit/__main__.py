"""``python -m mountkit``: the same as the ``mountkit`` command."""

from .cli import main

if __name__ == "__main__":
    main()
