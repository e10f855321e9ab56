/*
 * mountkit's compiled element-wise kernels, loaded with ctypes (mountkit/kernels.py): plain C99 with no
 * Python C API, so building them needs a C compiler and nothing else.  Each replaces a few numpy/OpenCV
 * passes over a strip of the frame with one; the resampling itself stays with the resampler backend.
 *
 *   mk_field_rows   a coarse field's values at every pixel of some rows (maps.CoarseField.rows: the
 *                   horizontal half of the bilinear interpolation, the vertical half being done once per
 *                   plan), minus a per-component offset;
 *   mk_band_planes  an interleaved band of source rows (uint8, uint16 or float32) as float32 planes, each
 *                   multiplied by its channel's gain;
 *   mk_store_planes float32 planes clipped, rounded (half to even) and interleaved into the output rows;
 *   mk_node_rows    the vertical half of a coarse field's interpolation (once per plan);
 *   mk_outside      the positions of some map rows that fall off the frame.
 *
 * Each computes, in float32, what the numpy code beside it computes (tests/test_kernels.py).
 */
#include <stddef.h>
#include <stdint.h>

#define MK_ABI 3

/*
 * The hot loops are compiled twice where the compiler can dispatch at load time (GCC, clang >= 14 on x86
 * Linux): for AVX2 and for the baseline; the AVX2 build converts and interleaves three to four times as
 * fast.  No FMA: results are the same float32 operations in both builds (-std=c99 keeps contraction off).
 */
#if defined(__x86_64__) && defined(__linux__) && \
    ((defined(__GNUC__) && !defined(__clang__) && __GNUC__ >= 8) || (defined(__clang__) && __clang_major__ >= 14))
#define MK_CLONES __attribute__((target_clones("avx2", "default")))
#else
#define MK_CLONES
#endif

#define MK_U8 0
#define MK_U16 1
#define MK_F32 2

int mk_abi(void) { return MK_ABI; }

/* Columns [xa, xb) of one run: v0 + d t[x] - shift. */
static inline void lerp_run(float *restrict o, const float *restrict t, int xa, int xb, float v0, float d,
                            float shift) {
    for (int x = xa; x < xb; x++) o[x] = (v0 + d * t[x]) - shift;
}

/* Runs of exactly S columns starting at run r: the weights are the same in each (T), and the loop
 * over them has a constant trip count, which vectorises whole. */
#define FULL_RUNS(S)                                                                                       \
    for (; r < runs - 1 && run_x[r + 1] - run_x[r] == (S); r++) {                                          \
        const int k = run_k[r];                                                                            \
        const float v0 = v[k], d = v[k + 1] - v[k];                                                        \
        float *restrict q = o + run_x[r];                                                                  \
        for (int j = 0; j < (S); j++) q[j] = (v0 + d * T[j]) - shift;                                      \
    }

/*
 * rows: (height, comps, nx) float32, the field interpolated along y at every pixel row.
 * t: (width) weight of the node column right of each pixel column; run_x (runs + 1) and run_k (runs):
 * the runs of pixel columns between two node columns (first column, and the node column on their left);
 * runs other than the first and the last span `step` columns and have the same weights.
 * out: comps planes of (b - a) rows of `stride` floats: out[c][y - a][x] = v_k + (v_{k+1} - v_k) t[x] - off[c].
 */
MK_CLONES void mk_field_rows(const float *restrict rows, int comps, int nx, const float *restrict t,
                             const int32_t *restrict run_x, const int32_t *restrict run_k, int runs, int a, int b,
                             const float *restrict off, float *restrict out, ptrdiff_t stride) {
    const ptrdiff_t plane = (ptrdiff_t)(b - a) * stride;
    const int step = runs >= 3 ? run_x[2] - run_x[1] : 0;
    const float *restrict T = runs >= 3 ? t + run_x[1] : t;
    for (int y = a; y < b; y++) {
        for (int c = 0; c < comps; c++) {
            const float *restrict v = rows + ((size_t)y * (size_t)comps + (size_t)c) * (size_t)nx;
            float *restrict o = out + c * plane + (ptrdiff_t)(y - a) * stride;
            const float shift = off ? off[c] : 0.0f;
            int r = 0;
            while (r < runs) {
                if (r > 0) {
                    switch (step) { /* the grid steps mountkit.maps uses */
                    case 4: FULL_RUNS(4) break;
                    case 8: FULL_RUNS(8) break;
                    case 16: FULL_RUNS(16) break;
                    case 32: FULL_RUNS(32) break;
                    default: break;
                    }
                    if (r >= runs) break;
                }
                const int k = run_k[r];
                lerp_run(o, t, run_x[r], run_x[r + 1], v[k], v[k + 1] - v[k], shift);
                r++;
            }
        }
    }
}

/* One row of a band: three channels, each times its gain (restrict pointers, so the loops vectorise). */
#define BAND_ROW3(T)                                                                                       \
    MK_CLONES static void band_row3_##T(const T *restrict s, int w, float *restrict p0, float *restrict p1,          \
                              float *restrict p2, const float *restrict g0, const float *restrict g1,      \
                              const float *restrict g2) {                                                  \
        if (g0) {                                                                                          \
            for (int x = 0; x < w; x++) {                                                                  \
                p0[x] = (float)s[3 * x] * g0[x];                                                           \
                p1[x] = (float)s[3 * x + 1] * g1[x];                                                       \
                p2[x] = (float)s[3 * x + 2] * g2[x];                                                       \
            }                                                                                              \
        } else {                                                                                           \
            for (int x = 0; x < w; x++) {                                                                  \
                p0[x] = (float)s[3 * x];                                                                   \
                p1[x] = (float)s[3 * x + 1];                                                               \
                p2[x] = (float)s[3 * x + 2];                                                               \
            }                                                                                              \
        }                                                                                                  \
    }                                                                                                      \
    static void band_row_##T(const T *restrict s, int w, int nc, int c, float *restrict p,                 \
                             const float *restrict g) {                                                    \
        if (g) {                                                                                           \
            for (int x = 0; x < w; x++) p[x] = (float)s[(size_t)x * nc + c] * g[x];                        \
        } else {                                                                                           \
            for (int x = 0; x < w; x++) p[x] = (float)s[(size_t)x * nc + c];                               \
        }                                                                                                  \
    }

BAND_ROW3(uint8_t)
BAND_ROW3(uint16_t)
BAND_ROW3(float)

#define BAND(T)                                                                                            \
    for (int y = 0; y < rows; y++) {                                                                       \
        const T *s = (const T *)src + (size_t)y * (size_t)width * (size_t)nc;                              \
        const size_t r = (size_t)y * (size_t)width;                                                        \
        if (nc == 3) {                                                                                     \
            band_row3_##T(s, width, planes[0] + r, planes[1] + r, planes[2] + r, gains[0] ? gains[0] + r : NULL, \
                          gains[0] ? gains[1] + r : NULL, gains[0] ? gains[2] + r : NULL);                 \
        } else {                                                                                           \
            for (int c = 0; c < nc; c++) band_row_##T(s, width, nc, c, planes[c] + r, gains[c] ? gains[c] + r : NULL); \
        }                                                                                                  \
    }

/*
 * src: `rows` interleaved rows of `width` pixels of `nc` (<= 4) channels; planes[c]: (rows, width) float32;
 * gains[c]: (rows, width) float32, for every channel or for none (gains[0] NULL).
 * planes[c] = float32(src[..., c]) * gains[c].  The planes and gains must not overlap the source.
 */
int mk_band_planes(const void *src, int dtype, int width, int rows, int nc, float *const *planes,
                   const float *const *gains) {
    if (nc < 1 || nc > 4) return -1;
    for (int c = 1; c < nc; c++)
        if ((gains[c] == NULL) != (gains[0] == NULL)) return -1;
    if (dtype == MK_U8) {
        BAND(uint8_t)
    } else if (dtype == MK_U16) {
        BAND(uint16_t)
    } else if (dtype == MK_F32) {
        BAND(float)
    } else {
        return -1;
    }
    return 0;
}

/* Round half to even for |v| < 2^22 without a library call (the default rounding mode does it; this file
 * is never built with -ffast-math, so the two operations are kept as written). */
static inline float round_even(float v) {
    const float magic = 12582912.0f; /* 1.5 * 2^23 */
    return (v + magic) - magic;
}

static inline float clip_round(float v, float lo, float hi) {
    v = v > lo ? v : lo; /* a NaN becomes lo */
    v = v < hi ? v : hi;
    return round_even(v); /* lo and hi are whole numbers: clipping then rounding is rounding then clipping */
}

#define STORE_ROW(T, CONVERT)                                                                              \
    MK_CLONES static void store_row3_##T(T *restrict d, int w, const float *restrict p0, const float *restrict p1,   \
                               const float *restrict p2, float lo, float hi) {                             \
        (void)lo;                                                                                          \
        (void)hi;                                                                                          \
        for (int x = 0; x < w; x++) {                                                                      \
            d[3 * x] = (T)CONVERT(p0[x]);                                                                  \
            d[3 * x + 1] = (T)CONVERT(p1[x]);                                                              \
            d[3 * x + 2] = (T)CONVERT(p2[x]);                                                              \
        }                                                                                                  \
    }                                                                                                      \
    static void store_row_##T(T *restrict d, int w, int nc, int c, const float *restrict p, float lo,      \
                              float hi) {                                                                  \
        (void)lo;                                                                                          \
        (void)hi;                                                                                          \
        for (int x = 0; x < w; x++) d[(size_t)x * nc + c] = (T)CONVERT(p[x]);                              \
    }

#define CLIP_ROUND(v) clip_round((v), lo, hi)
#define AS_IS(v) (v)
STORE_ROW(uint8_t, CLIP_ROUND)
STORE_ROW(uint16_t, CLIP_ROUND)
STORE_ROW(float, AS_IS)

#define STORE(T)                                                                                           \
    for (int y = 0; y < rows; y++) {                                                                       \
        T *d = (T *)dst + (size_t)y * (size_t)width * (size_t)nc;                                          \
        const size_t r = (size_t)y * (size_t)width;                                                        \
        if (nc == 3) {                                                                                     \
            store_row3_##T(d, width, planes[0] + r, planes[1] + r, planes[2] + r, lo, hi);                 \
        } else {                                                                                           \
            for (int c = 0; c < nc; c++) store_row_##T(d, width, nc, c, planes[c] + r, lo, hi);            \
        }                                                                                                  \
    }

/*
 * planes[c]: (rows, width) float32; dst: `rows` interleaved rows of `width` pixels of nc channels, not
 * overlapping the planes.  Integer outputs (uint8, uint16) are clipped to [lo, hi] (whole numbers within
 * the dtype's range) and rounded half to even; float32 outputs are copied.
 */
int mk_store_planes(const float *const *planes, int width, int rows, int nc, void *dst, int dtype, float lo,
                    float hi) {
    if (nc < 1 || nc > 4) return -1;
    if (dtype == MK_U8) {
        if (!(lo >= 0.0f && hi <= 255.0f && lo <= hi)) return -1;
        STORE(uint8_t)
    } else if (dtype == MK_U16) {
        if (!(lo >= 0.0f && hi <= 65535.0f && lo <= hi)) return -1;
        STORE(uint16_t)
    } else if (dtype == MK_F32) {
        STORE(float)
    } else {
        return -1;
    }
    return 0;
}

/*
 * The vertical half of a coarse field's interpolation, for every pixel row: out[y][j] =
 * float32(v[i[y]][j] + (v[i[y] + 1][j] - v[i[y]][j]) t[y]) in double precision, j < m
 * (v: (ny, m) double, the node rows with components and node columns flattened).
 */
MK_CLONES void mk_node_rows(const double *restrict v, int m, const int64_t *restrict i, const double *restrict t,
                  int height, float *restrict out) {
    for (int y = 0; y < height; y++) {
        const double *restrict lo = v + (size_t)i[y] * (size_t)m, *restrict hi = lo + m;
        const double ty = t[y];
        float *restrict o = out + (size_t)y * (size_t)m;
        for (int j = 0; j < m; j++) o[j] = (float)(lo[j] + (hi[j] - lo[j]) * ty);
    }
}

/*
 * Positions (mx, my) of `rows` rows of `stride` floats, columns [c0, c1), off the frame: not
 * -0.5 <= x <= xmax and ylo <= y <= yhi (NaN included).  Writes the row (plus row0) and column of each
 * into ri, ci while fewer than `cap`, and returns how many there are.
 */
MK_CLONES int64_t mk_outside(const float *restrict mx, const float *restrict my, ptrdiff_t stride, int rows, int c0, int c1,
                   float xmax, float ylo, float yhi, int row0, int32_t *restrict ri, int32_t *restrict ci,
                   int64_t cap) {
    int64_t n = 0;
    for (int y = 0; y < rows; y++) {
        const float *restrict px = mx + (ptrdiff_t)y * stride, *restrict py = my + (ptrdiff_t)y * stride;
        int count = 0; /* first a branch-free count, which vectorises; most rows have nothing off the frame */
        for (int x = c0; x < c1; x++)
            count += !((px[x] >= -0.5f) & (px[x] <= xmax) & (py[x] >= ylo) & (py[x] <= yhi));
        if (!count) continue;
        if (cap >= (int64_t)rows * (int64_t)(c1 - c0)) { /* room for every position: branch-free */
            for (int x = c0; x < c1; x++) {
                ri[n] = y + row0;
                ci[n] = x;
                n += !((px[x] >= -0.5f) & (px[x] <= xmax) & (py[x] >= ylo) & (py[x] <= yhi));
            }
            continue;
        }
        for (int x = c0; x < c1; x++) {
            if (!(px[x] >= -0.5f && px[x] <= xmax && py[x] >= ylo && py[x] <= yhi)) {
                if (n < cap) {
                    ri[n] = y + row0;
                    ci[n] = x;
                }
                n++;
            }
        }
    }
    return n;
}

/* Lets setuptools link this as an extension module on every platform; it is loaded with ctypes. */
void *PyInit__kernels(void) { return NULL; }
