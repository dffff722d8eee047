/* One fused pass of the Adam update, the optional compiled path of mlpkit.fused.
 *
 * Same formula as mlpkit.optimizers.Adam (the numpy reference, tested equal):
 *   m = m + c1 (g - m);  v = v + c2 (g^2 - v)   with c1 = 1 - beta_1, c2 = 1 - beta_2;
 *   p = p - step_size * m / (sqrt(v) + eps_hat)
 * with step_size = alpha sqrt(1 - beta_2^t) / (1 - beta_1^t) and eps_hat = eps sqrt(1 - beta_2^t).
 * The caller computes c1 and c2 in double: 1 - 0.999 rounded to float keeps few digits.
 * numpy makes a dozen passes over memory for this; one loop reads each array once.
 * Loaded with ctypes (no Python C API); x86-64 builds carry an AVX2 clone picked at load time.
 */
#include <math.h>
#include <stddef.h>

#if defined(__x86_64__) && defined(__GNUC__)
#define MLPKIT_CLONES __attribute__((target_clones("avx2", "default")))
#else
#define MLPKIT_CLONES
#endif

MLPKIT_CLONES
void adam_step_float32(float *p, const float *g, float *m, float *v, ptrdiff_t n, float c1,
                       float c2, float step_size, float eps_hat) {
    for (ptrdiff_t i = 0; i < n; i++) {
        const float gi = g[i];
        const float mi = m[i] + c1 * (gi - m[i]);
        const float vi = v[i] + c2 * (gi * gi - v[i]);
        m[i] = mi;
        v[i] = vi;
        p[i] -= step_size * mi / (sqrtf(vi) + eps_hat);
    }
}

MLPKIT_CLONES
void adam_step_float64(double *p, const double *g, double *m, double *v, ptrdiff_t n, double c1,
                       double c2, double step_size, double eps_hat) {
    for (ptrdiff_t i = 0; i < n; i++) {
        const double gi = g[i];
        const double mi = m[i] + c1 * (gi - m[i]);
        const double vi = v[i] + c2 * (gi * gi - v[i]);
        m[i] = mi;
        v[i] = vi;
        p[i] -= step_size * mi / (sqrt(vi) + eps_hat);
    }
}
