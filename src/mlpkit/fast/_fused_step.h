/* One whole training step of a ReLU network with a softmax + cross-entropy output and Adam, for
 * one float type: included once per type by _fused.c after _fused_kernels.h (same macros).
 * A plan (struct step_plan, in _fused.c) holds the network's arrays, the epoch's rows and the
 * reused batch buffers; each call gathers a mini-batch, runs the forward and the backward pass
 * with the BLAS numpy itself calls (cblas ?gemm, 64-bit integers, handed over as a function
 * pointer), and takes the Adam step, with no Python between the products. The numpy trainer
 * (mlpkit.fast.step and mlpkit.optimizers) is the reference it is tested equal to. */

typedef void (*KERNEL(gemm_function))(int layout, int trans_a, int trans_b, blas_int M, blas_int N,
                                      blas_int K, real alpha, const real *A, blas_int lda,
                                      const real *B, blas_int ldb, real beta, real *C, blas_int ldc);

/* Copies the m rows order[start .. start + m) of rows (each `width` reals) into batch, one after
 * the other: the batch as rows (m, width), so that its columns are the notes' A_0 (width, m).
 * The rows lie at random in memory, so each is fetched into the core's second-level cache
 * GATHER_AHEAD rows before it is copied (the hardware prefetcher cannot guess them): 45% less time
 * per batch of Fashion-MNIST rows than without. */
static void KERNEL(gather_rows)(real *batch, const real *rows, const int64_t *order, ptrdiff_t m,
                                ptrdiff_t width) {
    const ptrdiff_t bytes = width * (ptrdiff_t)sizeof(real);
    for (ptrdiff_t j = -GATHER_AHEAD; j < m; j++) {
        if (j + GATHER_AHEAD < m) {
            const char *ahead = (const char *)(rows + order[j + GATHER_AHEAD] * width);
            for (ptrdiff_t byte = 0; byte < bytes; byte += CACHE_LINE) {
                PREFETCH_TO_L2(ahead + byte);
            }
        }
        if (j >= 0) {
            memcpy(batch + j * width, rows + order[j] * width, (size_t)bytes);
        }
    }
}

/* The column weights of J: c_j = w_j / sum w over the batch, written into scale; returns 0 when
 * every weight is 0 (the batch has nothing to learn). The sum adds the weights as they are
 * stored (real), like numpy's weight.sum(). */
static int KERNEL(gather_scale)(real *scale, const real *weights, const int64_t *order, ptrdiff_t m) {
    real total = 0;
    for (ptrdiff_t j = 0; j < m; j++) {
        scale[j] = weights[order[j]];
        total += scale[j];
    }
    if (total == 0) {
        return 0;
    }
    for (ptrdiff_t j = 0; j < m; j++) {
        scale[j] /= total;
    }
    return 1;
}

/* Forward: Z_l = W_l A_{l-1} (+ b_l), A_l = relu(Z_l) over Z_l for the hidden layers; the output
 * layer's softmax, J, dZ_L and db_L in one kernel. Returns J; plan->hits gets the right predictions. */
static double KERNEL(step_forward)(struct step_plan *plan, ptrdiff_t m, const real *scale) {
    KERNEL(gemm_function) gemm = (KERNEL(gemm_function))plan->gemm;
    const ptrdiff_t L = plan->L, *n = plan->sizes;
    const real *X = plan->X_batch; /* (m, n_0): A_0 transposed */
    for (ptrdiff_t l = 1; l <= L; l++) {
        real *Z = plan->Z[l - 1];
        const real *W = plan->W[l - 1];
        if (l == 1) { /* Z_1 = W_1 X^T  (n_1, m) */
            gemm(ROW_MAJOR, NO_TRANS, TRANS, n[1], m, n[0], 1, W, n[0], X, n[0], 0, Z, m);
        } else { /* Z_l = W_l A_{l-1}  (n_l, m) */
            gemm(ROW_MAJOR, NO_TRANS, NO_TRANS, n[l], m, n[l - 1], 1, W, n[l - 1], plan->Z[l - 2], m, 0, Z, m);
        }
        if (l < L) {
            KERNEL(bias_relu)(Z, plan->b[l - 1], n[l], m);
        }
    }
    real *ZL = plan->Z[L - 1];
    const real *bL = plan->b[L - 1];
    for (ptrdiff_t i = 0; i < n[L]; i++) { /* Z_L += b_L */
        for (ptrdiff_t j = 0; j < m; j++) {
            ZL[i * m + j] += bL[i];
        }
    }
    return KERNEL(softmax_cross_entropy)(ZL, plan->Y_batch, 1, n[L], plan->dZ_output, plan->db[L - 1],
                                         scale, (real)1 / (real)m, n[L], m, plan->work, &plan->hits);
}

/* Backward: dW_l = dZ_l A_{l-1}^T; dA_{l-1} = W_l^T dZ_l, dZ_{l-1} = dA_{l-1} * relu'(Z_{l-1}) in
 * place and db_{l-1}, down to layer 1. dZ_L carries the 1/m (or the weights' scale) already. */
static void KERNEL(step_backward)(struct step_plan *plan, ptrdiff_t m) {
    KERNEL(gemm_function) gemm = (KERNEL(gemm_function))plan->gemm;
    const ptrdiff_t *n = plan->sizes;
    real *dZ = plan->dZ_output;
    for (ptrdiff_t l = plan->L; l >= 1; l--) {
        real *dW = plan->dW[l - 1];
        if (l == 1) { /* dW_1 = dZ_1 X  (n_1, n_0) */
            gemm(ROW_MAJOR, NO_TRANS, NO_TRANS, n[1], n[0], m, 1, dZ, m, plan->X_batch, n[0], 0, dW, n[0]);
            break;
        }
        const real *A_prev = plan->Z[l - 2];
        gemm(ROW_MAJOR, NO_TRANS, TRANS, n[l], n[l - 1], m, 1, dZ, m, A_prev, m, 0, dW, n[l - 1]);
        real *dA = plan->dA[l - 2]; /* dA_{l-1} = W_l^T dZ_l  (n_{l-1}, m) */
        gemm(ROW_MAJOR, TRANS, NO_TRANS, n[l - 1], m, n[l], 1, plan->W[l - 1], n[l - 1], dZ, m, 0, dA, m);
        KERNEL(relu_backward)(dA, A_prev, plan->db[l - 2], n[l - 1], m);
        dZ = dA;
    }
}

/* A step's loops that the pool's threads share (see _pool.h), each part taking a slice: the
 * gather's rows, Adam's entries. */
struct KERNEL(step_region) {
    struct step_plan *plan;
    const int64_t *order; /* the batch's rows */
    ptrdiff_t m;
    real c1, c2, step_size, eps_hat, l2; /* Adam's, as in adam_step */
    ptrdiff_t n_l2;
    double squares[POOL_MAX_PARTS]; /* each part's ||w||^2 */
};

static void KERNEL(gather_part)(void *context, int part, int parts) {
    const struct KERNEL(step_region) *region = context;
    const struct step_plan *plan = region->plan;
    const ptrdiff_t from = region->m * part / parts, to = region->m * (part + 1) / parts;
    const ptrdiff_t n_0 = plan->sizes[0], n_L = plan->sizes[plan->L];
    KERNEL(gather_rows)((real *)plan->X_batch + from * n_0, plan->X_rows, region->order + from, to - from, n_0);
    KERNEL(gather_rows)((real *)plan->Y_batch + from * n_L, plan->Y_rows, region->order + from, to - from, n_L);
}

static void KERNEL(adam_part)(void *context, int part, int parts) {
    struct KERNEL(step_region) *region = context;
    struct step_plan *plan = region->plan;
    const ptrdiff_t n = plan->n_theta, line = CACHE_LINE / (ptrdiff_t)sizeof(real); /* parts apart by lines */
    const ptrdiff_t from = n * part / parts / line * line;
    const ptrdiff_t to = part + 1 == parts ? n : n * (part + 1) / parts / line * line;
    const ptrdiff_t n_l2 = region->n_l2 < from ? 0 : (region->n_l2 < to ? region->n_l2 - from : to - from);
    region->squares[part] = KERNEL(adam_step)((real *)plan->theta + from, (real *)plan->gradient + from,
                                              (real *)plan->m + from, (real *)plan->v + from, to - from,
                                              region->c1, region->c2, region->step_size, region->eps_hat,
                                              region->l2, n_l2);
}

/* One training step on the mini-batch order[start .. start + m): gather, forward, backward, and,
 * when J is finite, Adam over theta with the L2 gradient l2 w on its first n_weights entries
 * (l2 = lambda / m, 0 for none). Adam's scalars as in adam_step. Sets plan->loss (J without the
 * penalty), plan->hits and plan->squares (||w||^2 before the step); returns 0 when the batch's
 * weights are all zero (nothing done), 1 when it ran. The gather and Adam run on the pool's threads. */
int KERNEL(train_step)(struct step_plan *plan, ptrdiff_t start, ptrdiff_t m, double c1, double c2,
                       double step_size, double eps_hat, double l2) {
    const int64_t *order = plan->order + start;
    real *scale = NULL;
    if (plan->weights != NULL) {
        scale = plan->scale;
        if (!KERNEL(gather_scale)(scale, plan->weights, order, m)) {
            return 0;
        }
    }
    struct KERNEL(step_region) region = {
        plan, order, m, (real)c1, (real)c2, (real)step_size, (real)eps_hat, (real)l2,
        l2 != 0 ? plan->n_weights : 0, {0},
    };
    pool_for(KERNEL(gather_part), &region, parts_for(m * plan->sizes[0]));
    plan->loss = KERNEL(step_forward)(plan, m, scale);
    KERNEL(step_backward)(plan, m);
    plan->squares = 0;
    if (isfinite(plan->loss)) {
        const int parts = parts_for(plan->n_theta);
        pool_for(KERNEL(adam_part), &region, parts);
        for (int part = 0; part < parts; part++) {
            plan->squares += region.squares[part];
        }
    }
    return 1;
}
