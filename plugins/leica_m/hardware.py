"""The Leica M and M39 mounts and the M-mount camera bodies, as data with sources.

Crop factors are not typed in: :class:`mountkit.Camera` computes them from the
sensor size (diagonal ratio to 36 x 24 mm).

Sources (cited per body below):

[DPR]  open-product-data/digital-cameras (dpreview.com specification data),
       commit bb9cf30ead487640275028349ee0a9aa5a7b0fa5, ``database/<body>.yaml``,
       fields ``SensorSize`` and ``MaxResolution`` / ``OtherResolutions``.
[RS]   darktable-org/rawspeed ``data/cameras.xml``, commit
       0ea84face34bcfc5873faafb103687f57933f155: the EXIF Make and Model each
       body writes (``<Camera make=... model=...>``).
[LF]   lensfun ``data/db/rf-leica.xml`` and ``misc.xml`` as shipped in
       lensfunpy 1.18 (``lensfunpy/db_files``): lensfun's mount and camera
       names ("Leica M", "M39/1", "Leica M10"...), crop 1.525 for the R-D1.
[LM]   Leica Summilux-M 1:1.4/28 ASPH. instructions, p. 10 (manualslib):
       sensor 18 x 27 mm on the M8 models, 24 x 36 mm on all other M models.
[REF]  /work/shared/reference/leica-m-and-sensor.md (project facts file):
       M bayonet 27.8 mm flange, 44 mm throat, no contacts, 6-bit code;
       LTM 39 mm x 26 tpi, 28.8 mm flange; IMX989 8192 x 6144 at 1.6 um
       (MediaTek imx989 driver, Xiaomi), 10-bit RAW on the concept phone.
"""

from __future__ import annotations

from mountkit.hardware import Camera, Mount

LEICA_M = "Leica M"
M39 = "M39/1"  # lensfun's name for the 39 mm thread mount [LF]

#: Flange focal distances in mm [REF].
LEICA_M_FLANGE_MM = 27.80
LTM_FLANGE_MM = 28.80
#: Thickness of the LTM-to-M adapter ring that keeps infinity focus (mm).
LTM_TO_M_ADAPTER_MM = LTM_FLANGE_MM - LEICA_M_FLANGE_MM


def mounts() -> tuple[Mount, ...]:
    """The Leica M bayonet and the Leica thread mount (LTM, lensfun's "M39/1")."""
    return (
        Mount(
            name=LEICA_M,
            flange_distance=LEICA_M_FLANGE_MM,
            throat_diameter=44.0,
            # lensfun lists these as fitting the M mount through adapters [LF];
            # M39/1 (LTM) through the 1.0 mm LTM-to-M ring.
            compatible=(M39, "M42", "DKL", "T2", "Generic"),
            aliases=("Leica M-Mount", "M-Mount", "Leica M bayonet"),
            notes=(
                "Leica M bayonet (1954): no electrical contacts; lenses made since 2006 carry a 6-bit "
                "optical code that digital M bodies read and write to EXIF as LensType. Leica thread-mount "
                f"(LTM, M39) lenses fit through a {LTM_TO_M_ADAPTER_MM:.1f} mm LTM-to-M adapter ring, which "
                "keeps infinity focus and rangefinder coupling."
            ),
        ),
        Mount(
            name=M39,
            flange_distance=LTM_FLANGE_MM,
            aliases=("Leica M39", "LTM", "Leica thread mount", "Leica screw mount", "LSM", "M39"),
            compatible=("Generic",),
            notes=(
                "Leica thread mount: 39 mm x 26 threads per inch (Whitworth, pitch about 0.977 mm), flange "
                "28.80 mm. lensfun's 'M39/1' also covers Soviet M39 x 1 mm lenses, which fit the same "
                "thread; the M39 x 1 SLR lenses (Zenit) are made for a 45.2 mm flange instead."
            ),
        ),
    )


def _leica(model: str, *aliases: str, width: float = 36.0, height: float = 24.0,
           resolution: tuple[int, int] | None, notes: str) -> Camera:
    return Camera(maker="Leica Camera AG", model=model, mount=LEICA_M, sensor_width=width,
                  sensor_height=height, resolution=resolution, aliases=aliases, notes=notes)


def _epson(model: str) -> Camera:
    # 23.7 x 15.6 mm CCD, 3008 x 2000 [DPR epson_rd1.yaml, epson_rd1x.yaml];
    # EXIF Make "SEIKO EPSON CORP.", Model "R-D1"/"R-D1s"/"R-D1x" [RS], [LF].
    return Camera(maker="SEIKO EPSON CORP.", model=model, mount=LEICA_M, sensor_width=23.7, sensor_height=15.6,
                  resolution=(3008, 2000), aliases=(f"Epson {model}",),
                  notes="Epson's M-mount rangefinder (Sony ICX413 APS-C CCD); lensfun gives crop 1.525.")


def cameras() -> tuple[Camera, ...]:
    """The M-mount bodies: Leica M8, M9, M (Typ 240/246/262), M10, M11 families, Epson R-D1, Xiaomi concept."""
    full_frame = "Full frame: 24 x 36 mm as Leica states it [LM]"
    return (
        # Xiaomi 12S Ultra Concept: a second 1-inch-type Sony IMX989 behind an M adapter [REF].
        # 8192 x 6144 active pixels at 1.6 um = 13.1072 x 9.8304 mm (derived) [REF].
        Camera(maker="Xiaomi", model="12S Ultra Concept", mount=LEICA_M, sensor_width=8192 * 0.0016,
               sensor_height=6144 * 0.0016, resolution=(8192, 6144), bit_depth=10,
               aliases=("Xiaomi 12S Ultra Concept", "12S Ultra Concept IMX989"),
               notes=("Concept phone (Nov 2022, ten units) with a Leica M adapter in front of a 1-inch-type "
                      "Sony IMX989 (8192 x 6144, 1.6 um, 4:3, 10-bit RAW; 4096 x 3072 when binned). Its EXIF "
                      "Make/Model are not published.")),
        # M8 / M8.2: 27 x 18 mm CCD [LM], [DPR leica_m8.yaml "APS-H (27 x 18 mm)"]. 3916 x 2634 is the
        # DNG DefaultCropSize of M8 files (raw IFD 3920 x 2638); dpreview lists 3936 x 2630 as the
        # largest JPEG [DPR]. EXIF Model "M8 Digital Camera" [RS], [LF].
        _leica("M8 Digital Camera", "Leica M8", width=27.0, height=18.0, resolution=(3916, 2634),
               notes="Leica M8 / M8.2: 10 MP Kodak CCD, 6.8 um pixels, 27 x 18 mm (crop 1.33)."),
        # M9 / M9-P / M-E (Typ 220): 18 MP CCD, 5212 x 3472 [DPR leica_m9.yaml, leica_m9p.yaml,
        # leica_me220.yaml]; all write "M9 Digital Camera" [RS], [LF] (the M-E too: darktable#20722).
        _leica("M9 Digital Camera", "Leica M9", "Leica M9-P", "Leica M-E (Typ 220)", resolution=(5212, 3472),
               notes=full_frame + "; 18 MP Kodak CCD (M9, M9-P, M-E Typ 220)."),
        # M (Typ 240): 5952 x 3976 [DPR leica_m240.yaml]; EXIF "LEICA M (Typ 240)" [RS]. Its DNG raw
        # frame is 5984 x 4000 (exiftool output quoted in RawTherapee issue #7415).
        _leica("LEICA M (Typ 240)", "Leica M (Typ 240)", resolution=(5952, 3976),
               notes=full_frame + "; 24 MP CMOS (DNG raw frame 5984 x 4000)."),
        # M Monochrom (Typ 246): 5952 x 3968 [DPR leica_m_monochrom_typ246.yaml, which gives
        # 35.8 x 23.9 mm]; EXIF "LEICA M MONOCHROM (Typ 246)" [RS].
        _leica("LEICA M MONOCHROM (Typ 246)", "Leica M Monochrom (Typ 246)", resolution=(5952, 3968),
               notes=full_frame + "; 24 MP monochrome CMOS."),
        # M (Typ 262): 5952 x 3976 [DPR leica_m_typ262.yaml]; EXIF "LEICA M (Typ 262)" [RS].
        _leica("LEICA M (Typ 262)", "Leica M (Typ 262)", resolution=(5952, 3976),
               notes=full_frame + "; 24 MP CMOS."),
        # M-D (Typ 262): same body without a screen; EXIF "LEICA M-D (Typ 262)" [RS]; no resolution source.
        _leica("LEICA M-D (Typ 262)", "Leica M-D (Typ 262)", resolution=None,
               notes=full_frame + "; 24 MP CMOS, no rear screen."),
        # M10, M10-P, M10-D: 24 MP; dpreview lists JPEG 5952 x 3968 [DPR leica_m10.yaml, leica_m10_p.yaml,
        # leica_m10_d.yaml] (its MaxResolution 5952 x 3992 mixes the JPEG width with the DNG height).
        # EXIF "LEICA M10", "LEICA M10-P", "LEICA M10-D" [RS]; lensfun "Leica M10"... [LF].
        _leica("LEICA M10", "Leica M10", resolution=(5952, 3968), notes=full_frame + "; 24 MP CMOS."),
        _leica("LEICA M10-P", "Leica M10-P", resolution=(5952, 3968), notes=full_frame + "; 24 MP CMOS."),
        _leica("LEICA M10-D", "Leica M10-D", resolution=(5952, 3968), notes=full_frame + "; 24 MP CMOS."),
        # M10-R, M10 Monochrom: 41 MP, 7864 x 5200 [DPR leica_m10-r.yaml, leica_m10_monochrom.yaml].
        _leica("LEICA M10-R", "Leica M10-R", resolution=(7864, 5200), notes=full_frame + "; 41 MP CMOS."),
        _leica("LEICA M10 MONOCHROM", "Leica M10 Monochrom", resolution=(7864, 5200),
               notes=full_frame + "; 41 MP monochrome CMOS."),
        # M11: 60 MP BSI CMOS, 9528 x 6328 (also 7416 x 4928 and 5272 x 3498 modes) [DPR leica_m11.yaml];
        # the M11-P and M11-D use the same sensor. EXIF "LEICA M11", "LEICA M11-P", "LEICA M11-D",
        # "LEICA M11 Monochrom" [RS].
        _leica("LEICA M11", "Leica M11", resolution=(9528, 6328), notes=full_frame + "; 60 MP BSI CMOS."),
        _leica("LEICA M11-P", "Leica M11-P", resolution=(9528, 6328), notes=full_frame + "; 60 MP BSI CMOS."),
        _leica("LEICA M11-D", "Leica M11-D", resolution=(9528, 6328),
               notes=full_frame + "; 60 MP BSI CMOS, no rear screen."),
        _leica("LEICA M11 Monochrom", "Leica M11 Monochrom", resolution=None,
               notes=full_frame + "; 60 MP monochrome BSI CMOS."),
        _epson("R-D1"),
        _epson("R-D1s"),
        _epson("R-D1x"),
    )
