"""Builds mountkit's compiled kernels (mountkit/_kernels.c); everything else is in pyproject.toml.

The extension is optional: without a C compiler the installation goes on, the compiled kernels are not used and
numpy does their work instead.  The library has no Python C API calls; it is
loaded with ctypes (mountkit/kernels.py).
"""

import sys

from setuptools import Extension, setup

# -fno-wrapv undoes the -fwrapv of CPython's own CFLAGS, which setuptools passes first: with it, GCC cannot
# prove the kernels' index arithmetic free of overflow and does not vectorise their loops (3 to 4 times slower).
# -std=c99 keeps floating-point contraction off: every build computes the same float32 numbers.
args = [] if sys.platform == "win32" else ["-O3", "-std=c99", "-fno-wrapv"]
libs = [] if sys.platform == "win32" else ["m"]

setup(ext_modules=[Extension("mountkit._kernels", ["mountkit/_kernels.c"], optional=True,
                             extra_compile_args=args, libraries=libs)])
