/*
 * gemm.c - the float32 matrix products every Gemm, MatMul and Conv runs on.
 *
 * Register-blocked kernels written with GCC vector extensions on a 16-float
 * vector type, compiled for AVX-512, AVX2 and baseline x86-64 (target_clones,
 * picked once at load by the dynamic linker), so one binary runs everywhere
 * and uses the machine's widest vectors.  Every clone does the same
 * operations in the same order on each element (16 logical lanes, products
 * and sums separate, never fused: -std=c11 keeps -ffp-contract=off), so
 * results do not depend on the machine.  No allocation, no scratch.
 *
 *   sgemm_acc     C[M,N] += A[M,K] B[K,N]      6x16 blocks, C in registers over K
 *   sgemm_nt_acc  C[M,N] += A[M,K] B[N,K]^T    dot products, 4 columns at a time
 */
#include "ops.h"

#define VL 16 /* floats per vector */
#define MR 6  /* rows of C a block keeps in registers: 6 zmm, or 12 of AVX2's 16 ymm */
typedef float vf __attribute__((vector_size(VL * sizeof(float))));

/* The helpers below pass vf by value but are always inlined, so no call ever
 * crosses the ABI GCC warns about. */
#pragma GCC diagnostic ignored "-Wpsabi"
#define INLINE static inline __attribute__((always_inline))

#if defined(__x86_64__) && defined(__GNUC__) && !defined(__clang__) && !defined(__SANITIZE_ADDRESS__)
#define CLONES __attribute__((target_clones("avx512f", "avx2", "default")))
#else
#define CLONES
#endif

INLINE vf vload(const float *p)
{
	vf v;
	__builtin_memcpy(&v, p, sizeof(v));
	return v;
}

INLINE void vstore(float *p, vf v)
{
	__builtin_memcpy(p, &v, sizeof(v));
}

/* Lanes summed in a fixed order. */
INLINE float vsum(vf v)
{
	float s = 0;
	for (int l = 0; l < VL; l++)
		s += v[l];
	return s;
}

/* Rows [i, i+rows) of C += A B over columns [0, n16) in 16-wide strips; rows <= MR. */
INLINE void nn_rows(int rows, int64_t n16, int64_t k, const float *a, int64_t lda,
			   const float *b, int64_t ldb, float *c, int64_t ldc)
{
	for (int64_t j = 0; j < n16; j += VL) {
		vf acc[MR] = {0};
		for (int64_t p = 0; p < k; p++) {
			vf bv = vload(b + p * ldb + j);
			for (int r = 0; r < rows; r++)
				acc[r] += a[r * lda + p] * bv;
		}
		for (int r = 0; r < rows; r++)
			vstore(c + r * ldc + j, vload(c + r * ldc + j) + acc[r]);
	}
}

CLONES void sgemm_acc(int64_t m, int64_t n, int64_t k, const float *a, int64_t lda, const float *b,
		      int64_t ldb, float *c, int64_t ldc)
{
	int64_t n16 = n - n % VL;

	for (int64_t i = 0; i < m; i += MR) {
		int rows = m - i < MR ? (int)(m - i) : MR;
		const float *ai = a + i * lda;
		float *ci = c + i * ldc;
		switch (rows) { /* constant row counts, so each block's loops unroll */
		case 6: nn_rows(6, n16, k, ai, lda, b, ldb, ci, ldc); break;
		case 5: nn_rows(5, n16, k, ai, lda, b, ldb, ci, ldc); break;
		case 4: nn_rows(4, n16, k, ai, lda, b, ldb, ci, ldc); break;
		case 3: nn_rows(3, n16, k, ai, lda, b, ldb, ci, ldc); break;
		case 2: nn_rows(2, n16, k, ai, lda, b, ldb, ci, ldc); break;
		default: nn_rows(1, n16, k, ai, lda, b, ldb, ci, ldc); break;
		}
		for (int r = 0; r < rows; r++) /* the last n % 16 columns */
			for (int64_t j = n16; j < n; j++) {
				float s = 0;
				for (int64_t p = 0; p < k; p++)
					s += a[(i + r) * lda + p] * b[p * ldb + j];
				c[(i + r) * ldc + j] += s;
			}
	}
}

/* C[i, j..j+cols) += dot(A row i, B rows j..j+cols); cols <= 4. */
INLINE void nt_cols(int cols, int64_t k, const float *ai, const float *b, int64_t ldb,
			   float *ci)
{
	int64_t k16 = k - k % VL;
	vf acc[4] = {0};
	float tail[4] = {0};

	for (int64_t p = 0; p < k16; p += VL) {
		vf av = vload(ai + p);
		for (int q = 0; q < cols; q++)
			acc[q] += av * vload(b + q * ldb + p);
	}
	for (int q = 0; q < cols; q++) {
		for (int64_t p = k16; p < k; p++)
			tail[q] += ai[p] * b[q * ldb + p];
		ci[q] += vsum(acc[q]) + tail[q];
	}
}

CLONES void sgemm_nt_acc(int64_t m, int64_t n, int64_t k, const float *a, int64_t lda,
			 const float *b, int64_t ldb, float *c, int64_t ldc)
{
	for (int64_t i = 0; i < m; i++) {
		int64_t j = 0;
		for (; j + 4 <= n; j += 4)
			nt_cols(4, k, a + i * lda, b + j * ldb, ldb, c + i * ldc + j);
		for (; j < n; j++)
			nt_cols(1, k, a + i * lda, b + j * ldb, ldb, c + i * ldc + j);
	}
}
