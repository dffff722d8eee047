/* The optional compiled path of mlpkit.fast.kernels: fused loops for the training step's element-wise
 * work, each replacing several numpy passes over memory with one.
 *
 * The numpy code stays the reference (mlpkit.optimizers, mlpkit.activations, mlpkit.losses) and
 * tests hold every kernel equal to it. The kernels themselves are in _fused_kernels.h, written
 * once for a generic `real` and included here for float and for double.
 * Adam's scalars: the caller forms c1 = 1 - beta_1 and c2 = 1 - beta_2 in double, since
 * 1 - 0.999 rounded to float keeps few digits.
 * Loaded with ctypes (no Python C API); x86-64 builds carry an AVX2 clone of each kernel, picked
 * at load time.
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
