/* Calls the causal GQA kernel of causal-gqa.mlir through the header and
 * shared library that attn-translate emits, from two threads, and compares
 * O and LSE with a naive double-precision causal softmax attention. Calls
 * with a thread outside [0, threads) (and with no threads) must write
 * nothing. */
#include "kernels.h"

#include <math.h>
#include <pthread.h>
#include <stdio.h>

enum { B = 2, HQ = 4, HKV = 2, S = 37, D = 16, DV = 8, THREADS = 2 };

static float q[B][HQ][S][D], k[B][HKV][S][D], v[B][HKV][S][DV];
static float o[B][HQ][S][DV], lse[B][HQ][S];

static void describe4(attn_memref4d *m, void *data, int64_t a, int64_t b,
                      int64_t c, int64_t d) {
  int64_t sizes[4] = {a, b, c, d};
  m->allocated = m->aligned = data;
  m->offset = 0;
  for (int i = 0; i < 4; ++i)
    m->sizes[i] = sizes[i];
  m->strides[3] = 1;
  for (int i = 2; i >= 0; --i)
    m->strides[i] = m->strides[i + 1] * sizes[i + 1];
}

static attn_memref4d mq, mk, mv, mo;
static attn_memref3d ml;

static void *work(void *arg) {
  int64_t thread = (int64_t)(intptr_t)arg;
  _mlir_ciface_spec(&mq, &mk, &mv, &mo, &ml, thread, THREADS);
  return NULL;
}

int main(void) {
  for (int b = 0; b < B; ++b)
    for (int s = 0; s < S; ++s) {
      for (int h = 0; h < HQ; ++h)
        for (int d = 0; d < D; ++d)
          q[b][h][s][d] = (float)sin(1.0 + b + 3.0 * h + 0.7 * s + 0.3 * d);
      for (int h = 0; h < HKV; ++h) {
        for (int d = 0; d < D; ++d)
          k[b][h][s][d] = (float)cos(2.0 + b + 5.0 * h + 0.9 * s + 0.2 * d);
        for (int d = 0; d < DV; ++d)
          v[b][h][s][d] = (float)sin(3.0 + b + 7.0 * h + 1.1 * s + 0.5 * d);
      }
    }
  describe4(&mq, q, B, HQ, S, D);
  describe4(&mk, k, B, HKV, S, D);
  describe4(&mv, v, B, HKV, S, DV);
  describe4(&mo, o, B, HQ, S, DV);
  ml.allocated = ml.aligned = lse;
  ml.offset = 0;
  ml.sizes[0] = B, ml.sizes[1] = HQ, ml.sizes[2] = S;
  ml.strides[0] = HQ * S, ml.strides[1] = S, ml.strides[2] = 1;

  // Callers' errors: a thread index past the count, a count of zero.
  for (int b = 0; b < B; ++b)
    for (int h = 0; h < HQ; ++h)
      for (int s = 0; s < S; ++s)
        for (int d = 0; d < DV; ++d)
          o[b][h][s][d] = 123.0f;
  _mlir_ciface_spec(&mq, &mk, &mv, &mo, &ml, THREADS, THREADS);
  _mlir_ciface_spec(&mq, &mk, &mv, &mo, &ml, 0, 0);
  _mlir_ciface_spec(&mq, &mk, &mv, &mo, &ml, -1, THREADS);
  int untouched = 1;
  for (int b = 0; b < B; ++b)
    for (int h = 0; h < HQ; ++h)
      for (int s = 0; s < S; ++s)
        for (int d = 0; d < DV; ++d)
          untouched &= o[b][h][s][d] == 123.0f;
  printf("out-of-range threads %s\n", untouched ? "wrote nothing" : "WROTE");

  pthread_t pool[THREADS];
  for (intptr_t t = 0; t < THREADS; ++t)
    pthread_create(&pool[t], NULL, work, (void *)t);
  for (int t = 0; t < THREADS; ++t)
    pthread_join(pool[t], NULL);

  double worst = 0.0;
  for (int b = 0; b < B; ++b)
    for (int h = 0; h < HQ; ++h)
      for (int i = 0; i < S; ++i) {
        int g = h / (HQ / HKV);
        double s[S], m = -INFINITY, l = 0.0;
        for (int j = 0; j <= i; ++j) {
          s[j] = 0.0;
          for (int d = 0; d < D; ++d)
            s[j] += (double)q[b][h][i][d] * k[b][g][j][d];
          s[j] /= sqrt((double)D);
          m = fmax(m, s[j]);
        }
        for (int j = 0; j <= i; ++j)
          l += exp(s[j] - m);
        for (int d = 0; d < DV; ++d) {
          double ref = 0.0;
          for (int j = 0; j <= i; ++j)
            ref += exp(s[j] - m) / l * v[b][g][j][d];
          worst = fmax(worst, fabs(ref - o[b][h][i][d]));
        }
        worst = fmax(worst, fabs(m + log(l) - lse[b][h][i]));
      }
  printf("max abs error %.3g %s\n", worst, worst < 1e-5 ? "ok" : "FAILED");
  return worst < 1e-5 && untouched ? 0 : 1;
}
