/* The kernels of mlpkit._fused for one float type, included once per type by _fused.c, which
 * defines `real`, KERNEL(name) (the name with its _float32/_float64 suffix), SQRT, EXP, LOG and
 * EPSILON first (and LANES, below). Matrices are n x m (units x samples, the notes' layout) in C order unless said
 * otherwise; each kernel replaces several numpy passes over memory with one loop. */

/* The sum of m values in LANES independent partial sums: the compiler vectorizes them (one running
 * sum would be a chain of dependent additions), and the rounding stays close to numpy's pairwise sum. */
static inline real KERNEL(row_sum)(const real *row, ptrdiff_t m) {
    real partial[LANES] = {0};
    ptrdiff_t j = 0;
    for (; j + LANES <= m; j += LANES) {
        for (int k = 0; k < LANES; k++) {
            partial[k] += row[j + k];
        }
    }
    real sum = 0;
    for (; j < m; j++) {
        sum += row[j];
    }
    for (int k = 0; k < LANES; k++) {
        sum += partial[k];
    }
    return sum;
}

/* One Adam update of element i: m = m + c1 (g - m); v = v + c2 (g^2 - v);
 * p = p - step_size m / (sqrt(v) + eps_hat). */
static inline void KERNEL(adam_update)(real *p, const real *g, real *m, real *v, ptrdiff_t i, real c1,
                                       real c2, real step_size, real eps_hat) {
    const real gi = g[i];
    const real mi = m[i] + c1 * (gi - m[i]);
    const real vi = v[i] + c2 * (gi * gi - v[i]);
    m[i] = mi;
    v[i] = vi;
    p[i] -= step_size * mi / (SQRT(vi) + eps_hat);
}

/* Adam over n parameters, the first n_l2 of them (the weights) with an L2 penalty
 * (l2 / 2) ||w||^2 whose gradient l2 w is first added to g (written back, as numpy's g += l2 w).
 * Returns ||w||^2 over those n_l2 before the update (the penalty's cost), summed in double. */
MLPKIT_CLONES
double KERNEL(adam_step)(real *p, real *g, real *m, real *v, ptrdiff_t n, real c1, real c2,
                         real step_size, real eps_hat, real l2, ptrdiff_t n_l2) {
    double partial[LANES] = {0};
    double squares = 0;
    ptrdiff_t i = 0;
    for (; i + LANES <= n_l2; i += LANES) {
        for (int k = 0; k < LANES; k++) {
            const real w = p[i + k];
            partial[k] += (double)w * w;
            g[i + k] += l2 * w;
            KERNEL(adam_update)(p, g, m, v, i + k, c1, c2, step_size, eps_hat);
        }
    }
    for (; i < n_l2; i++) {
        squares += (double)p[i] * p[i];
        g[i] += l2 * p[i];
        KERNEL(adam_update)(p, g, m, v, i, c1, c2, step_size, eps_hat);
    }
    for (; i < n; i++) {
        KERNEL(adam_update)(p, g, m, v, i, c1, c2, step_size, eps_hat);
    }
    for (int k = 0; k < LANES; k++) {
        squares += partial[k];
    }
    return squares;
}

/* Z_l = Z_l + b_l, then A_l = relu(Z_l) = max(Z_l, 0) over it, in one pass. A NaN stays NaN, as
 * numpy.maximum keeps it (divergence must stay visible). */
MLPKIT_CLONES
void KERNEL(bias_relu)(real *Z, const real *b, ptrdiff_t n, ptrdiff_t m) {
    for (ptrdiff_t i = 0; i < n; i++) {
        real *row = Z + i * m;
        const real bias = b[i];
        for (ptrdiff_t j = 0; j < m; j++) {
            const real z = row[j] + bias;
            row[j] = z < 0 ? 0 : z;
        }
    }
}

/* dZ_l = dA_l * relu'(Z_l), over dA_l in place, read from A_l (A_l > 0 exactly where Z_l > 0),
 * and db_l = the row sums of dZ_l, each row summed while it is still in cache. The mask
 * multiplies, as numpy's does, so a NaN or an infinity in dA_l still spreads. */
MLPKIT_CLONES
void KERNEL(relu_backward)(real *dA, const real *A, real *db, ptrdiff_t n, ptrdiff_t m) {
    for (ptrdiff_t i = 0; i < n; i++) {
        real *row = dA + i * m;
        const real *mask = A + i * m;
        for (ptrdiff_t j = 0; j < m; j++) {
            row[j] *= mask[j] > 0 ? (real)1 : (real)0;
        }
        db[i] = KERNEL(row_sum)(row, m);
    }
}

/* The softmax + cross-entropy output layer of a batch in one call (numpy: a dozen passes):
 *   A_L = softmax(Z_L), column by column, shifted by each column's max, written over Z;
 *   dZ_L = c_j (A_L - Y), with c_j = column_scale[j], or `scale` when column_scale is NULL (the
 *          1/m, or the sample weights over their sum, of J folded into dZ_L);
 *   db_L = the row sums of dZ_L;
 *   returns J = sum_j c_j (-sum_i y_ij log a_ij), with a clipped to [EPSILON, 1 - EPSILON];
 *   *correct = how many columns have their largest a where y has its largest (the first largest,
 *          as numpy.argmax picks).
 * Y(i, j) is Y[i * y_row + j * y_column] (the gathered targets may be rows or columns). work holds
 * 4 m reals. The passes run along the rows of Z, so that each one vectorizes. */
MLPKIT_CLONES
double KERNEL(softmax_cross_entropy)(real *Z, const real *Y, ptrdiff_t y_row, ptrdiff_t y_column,
                                     real *dZ, real *db, const real *column_scale, real scale,
                                     ptrdiff_t n, ptrdiff_t m, real *work, ptrdiff_t *correct) {
    real *restrict column_max = work, *restrict column_sum = work + m;
    real *restrict best = work + 2 * m, *restrict best_unit = work + 3 * m; /* largest a so far */
    for (ptrdiff_t j = 0; j < m; j++) {
        column_max[j] = Z[j];
        column_sum[j] = 0;
        best[j] = -1; /* below every probability: unit 0 takes it */
    }
    for (ptrdiff_t i = 1; i < n; i++) {
        const real *row = Z + i * m;
        for (ptrdiff_t j = 0; j < m; j++) {
            column_max[j] = row[j] > column_max[j] ? row[j] : column_max[j];
        }
    }
    for (ptrdiff_t i = 0; i < n; i++) {
        real *row = Z + i * m;
        for (ptrdiff_t j = 0; j < m; j++) {
            row[j] = EXP(row[j] - column_max[j]);
            column_sum[j] += row[j];
        }
    }
    for (ptrdiff_t i = 0; i < n; i++) {
        real *row = Z + i * m;
        for (ptrdiff_t j = 0; j < m; j++) {
            row[j] /= column_sum[j];
            const int larger = row[j] > best[j]; /* strictly: the first largest wins ties */
            best[j] = larger ? row[j] : best[j];
            best_unit[j] = larger ? (real)i : best_unit[j];
        }
    }
    double loss = 0;
    ptrdiff_t hits = 0;
    for (ptrdiff_t j = 0; j < m; j++) { /* down each column: the targets of a sample */
        const real *y = Y + j * y_column;
        double column_loss = 0;
        ptrdiff_t label = 0;
        real label_y = y[0];
        for (ptrdiff_t i = 0; i < n; i++) {
            const real y_i = y[i * y_row];
            if (y_i != 0) {
                const real a = Z[i * m + j];
                const real clipped = a < EPSILON ? EPSILON : (a > 1 - EPSILON ? 1 - EPSILON : a);
                column_loss -= (double)y_i * LOG(clipped);
            }
            label = y_i > label_y ? i : label; /* strictly: the first largest wins ties */
            label_y = y_i > label_y ? y_i : label_y;
        }
        loss += (column_scale ? column_scale[j] : scale) * column_loss;
        hits += best_unit[j] == (real)label;
    }
    for (ptrdiff_t i = 0; i < n; i++) {
        const real *restrict a = Z + i * m, *restrict y = Y + i * y_row;
        real *restrict dz = dZ + i * m;
        if (column_scale) {
            for (ptrdiff_t j = 0; j < m; j++) {
                dz[j] = (a[j] - y[j * y_column]) * column_scale[j];
            }
        } else {
            for (ptrdiff_t j = 0; j < m; j++) {
                dz[j] = (a[j] - y[j * y_column]) * scale;
            }
        }
        db[i] = KERNEL(row_sum)(dz, m);
    }
    *correct = hits;
    return loss;
}
