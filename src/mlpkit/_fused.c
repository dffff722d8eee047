/* The optional compiled path of mlpkit.fused: fused loops for the training step's element-wise
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

#if defined(__x86_64__) && defined(__GNUC__)
#define MLPKIT_CLONES __attribute__((target_clones("avx2", "default")))
#else
#define MLPKIT_CLONES
#endif

/* independent partial sums in a row sum: enough to fill two AVX2 registers of floats */
enum { LANES = 16 };

#define real float
#define KERNEL(name) name##_float32
#define SQRT sqrtf
#define EXP expf
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
