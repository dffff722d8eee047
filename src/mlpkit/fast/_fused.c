/* The optional compiled path of mlpkit.fast.kernels: fused loops for the training step's element-wise
 * work, each replacing several numpy passes over memory with one.
 *
 * The numpy code stays the reference (mlpkit.optimizers, mlpkit.activations, mlpkit.losses) and
 * tests hold every kernel equal to it. The kernels themselves are in _fused_kernels.h, written
 * once for a generic `real` and included here for float and for double.
 * Adam's scalars: the caller forms c1 = 1 - beta_1 and c2 = 1 - beta_2 in double, since
 * 1 - 0.999 rounded to float keeps few digits.
 * Loaded with ctypes (no Python C API); x86-64 builds carry an AVX2 clone of each kernel, picked
 * at load time. _fused_step.h builds a whole training step from these kernels and the BLAS that
 * numpy uses, reached through a function pointer (no BLAS to link against here); _pool.h gives the
 * step and numpy's BLAS one set of threads.
 */
#include <float.h>
#include <math.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#if defined(__x86_64__) && defined(__GNUC__)
#define MLPKIT_CLONES __attribute__((target_clones("avx2", "default")))
#else
#define MLPKIT_CLONES
#endif

/* a read prefetch into the second-level cache (x86: prefetcht1), where the compiler has one */
#if defined(__GNUC__)
#define PREFETCH_TO_L2(address) __builtin_prefetch((address), 0, 2)
#else
#define PREFETCH_TO_L2(address) ((void)(address))
#endif
enum { CACHE_LINE = 64, GATHER_AHEAD = 4 }; /* bytes; rows fetched ahead of the copy */
enum { PARALLEL_MIN = 1 << 15 };              /* values: below, a loop stays on one thread */

#include "_pool.h"

/* How many parts a loop over `size` values takes: one below PARALLEL_MIN, where a hand-off to
 * another thread costs more than it saves. */
static int parts_for(ptrdiff_t size) { return size < PARALLEL_MIN ? 1 : pool_parts(); }

/* CBLAS's constants: row-major layout, no transpose, transpose */
enum { ROW_MAJOR = 101, NO_TRANS = 111, TRANS = 112 };
typedef int64_t blas_int; /* numpy's OpenBLAS has 64-bit integers (ILP64) */

/* The arrays of one training step (see _fused_step.h and mlpkit.fast.fused), filled by the caller:
 * layer l's arrays at index l - 1, each C-contiguous in the step's float type. */
enum { MAX_LAYERS = 16 };
struct step_plan {
    void *gemm; /* cblas_sgemm or cblas_dgemm, with 64-bit integers */
    ptrdiff_t L;
    ptrdiff_t sizes[MAX_LAYERS + 1]; /* n_0 .. n_L */
    void *W[MAX_LAYERS], *b[MAX_LAYERS], *dW[MAX_LAYERS], *db[MAX_LAYERS];
    void *Z[MAX_LAYERS];  /* Z_l, then A_l over it: (n_l, m) in the first n_l m entries */
    void *dA[MAX_LAYERS]; /* dA_l, then dZ_l over it, hidden layers */
    void *dZ_output;      /* dZ_L */
    const void *X_rows, *Y_rows; /* the epoch's data as rows: (rows, n_0) and (rows, n_L) */
    const void *weights;         /* the sample weights (rows,) in the step's type, or NULL */
    const int64_t *order;        /* the epoch's row order */
    void *X_batch, *Y_batch, *scale, *work; /* (m, n_0), (m, n_L), (m,), (4 m,) */
    void *theta, *gradient, *m, *v; /* Adam's parameters (every W_l, then every b_l), dtheta, moments */
    ptrdiff_t n_theta, n_weights;   /* their size, and how many are weights (the L2 term's entries) */
    double loss, squares;           /* results: J, ||w||^2 before the step */
    ptrdiff_t hits;                 /* results: right predictions */
};

/* independent partial sums in a row sum: enough to fill two AVX2 registers of floats */
enum { LANES = 16 };

/* e^x in float, for x <= 0 (softmax's z - max), in a form the compiler vectorizes (the C
 * library's expf takes one value per call): x = k ln 2 + r with |r| <= ln(2) / 2, e^r from
 * Cephes' degree-6 polynomial (within 2 units in the last place of numpy's exp), and 2^k written
 * into the exponent bits. Below -87.3, where e^x leaves the normal floats, the result stays at the
 * smallest normal float, 1.2e-38 (a softmax probability that small is 0 to the loss's clip). NaN
 * stays NaN. */
static inline float exp_nonpositive(float x) {
    x = x < -87.3f ? -87.3f : (x > 0.0f ? 0.0f : x);
    const float k = floorf(x * 1.44269504088896341f + 0.5f);
    const float r = (x - k * 0.693359375f) - k * -2.12194440e-4f; /* ln 2 in two parts */
    float p = 1.9875691500e-4f;
    p = p * r + 1.3981999507e-3f;
    p = p * r + 8.3334519073e-3f;
    p = p * r + 4.1665795894e-2f;
    p = p * r + 1.6666665459e-1f;
    p = p * r + 5.0000001201e-1f;
    p = p * r * r + r + 1.0f;
    const int32_t exponent = ((int32_t)k + 127) << 23;
    float two_to_k;
    memcpy(&two_to_k, &exponent, sizeof two_to_k);
    return p * two_to_k;
}

#define real float
#define KERNEL(name) name##_float32
#define SQRT sqrtf
#define EXP exp_nonpositive
#define LOG logf
#define EPSILON FLT_EPSILON
#include "_fused_kernels.h"
#include "_fused_step.h"
#undef real
#undef KERNEL
#undef SQRT
#undef EXP
#undef LOG
#undef EPSILON

#define real double
#define KERNEL(name) name##_float64
#define SQRT sqrt
#define EXP exp
#define LOG log
#define EPSILON DBL_EPSILON
#include "_fused_kernels.h"
#include "_fused_step.h"
