"""Calibration: lens profiles from your own shots, with mountkit alone (see ``docs/calibration.md``).

* :func:`calibrate_distortion`: lensfun ``ptlens``/``poly3``/``poly5`` from chessboard shots
  (OpenCV's ``findChessboardCornersSB``, corners refined to the centre of point symmetry,
  model and per-shot homographies fitted jointly);
* :func:`calibrate_tca`: lensfun ``linear``/``poly3`` TCA from the same (colour) shots;
* :func:`calibrate_vignetting`: lensfun ``pa`` per (focal, aperture, distance) from linear
  flat fields, and the ``colour_shading`` kind (model ``poly4``, registered by
  :mod:`mountkit.calibrate.colour_shading`);
* :func:`write_profile`: new or merged TOML profile with provenance, validated, written atomically;
* :func:`write_report`: residual plots.

Everything is fitted in lensfun's normalised coordinates of the shooting camera (its crop
factor and aspect ratio are stored with the profile), with the distortion centre at the
image centre.
"""

from .detection import BoardDetection, BoardRejected, detect_board, detect_boards
from .distortion_fit import DistortionFit, fit_distortion
from .pipeline import calibrate_distortion, calibrate_tca, calibrate_vignetting, detect, read_flat
from .profile_output import CalibrationRecord, sensor_aspect_ratio, write_profile
from .report import write_report
from .tca_fit import TCAFit, fit_tca
from .vignetting_fit import FlatField, FlatRejected, VignettingFit

__all__ = [
    "BoardDetection",
    "BoardRejected",
    "CalibrationRecord",
    "DistortionFit",
    "FlatField",
    "FlatRejected",
    "TCAFit",
    "VignettingFit",
    "calibrate_distortion",
    "calibrate_tca",
    "calibrate_vignetting",
    "detect",
    "detect_board",
    "detect_boards",
    "fit_distortion",
    "fit_tca",
    "read_flat",
    "sensor_aspect_ratio",
    "write_profile",
    "write_report",
]
