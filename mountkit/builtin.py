"""mountkit's own plugins, registered through the same hooks as third-party ones."""

#: Modules registered by every :class:`mountkit.Kit` (unless ``builtins=False``),
#: before the entry points, in this order.  One module per line: several
#: people add to this list.
BUILTIN_PLUGINS: tuple[str, ...] = (
    "mountkit.models.distortion",
    "mountkit.models.tca",
    "mountkit.models.vignetting",
    "mountkit.models.adobe",
    "mountkit.profiles_plugin",
    "mountkit.resample.numpy_backend",
    "mountkit.resample.opencv_backend",
    "mountkit.tools.plugin",
    "mountkit.io.plugin",
    "mountkit.dng.plugin",
    "mountkit.calibrate.colour_shading",
    "mountkit.calibrate.plugin",
    "mountkit.demo",
)
