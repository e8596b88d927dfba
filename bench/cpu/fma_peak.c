/* Measures the machine's single-precision FMA peak: independent chains of
 * vector FMAs per thread (compile with -O3 -march=native). Prints GFLOP/s
 * for 1 and N threads as JSON. */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#define CHAINS 12
#define WIDTH 16
typedef float vec __attribute__((vector_size(WIDTH * sizeof(float))));

static const long kIterations = 200000000L / WIDTH;

static void *spin(void *out) {
  vec acc[CHAINS], x, y;
  for (int c = 0; c < CHAINS; ++c)
    for (int i = 0; i < WIDTH; ++i)
      acc[c][i] = (float)(c + i) * 1e-3f;
  for (int i = 0; i < WIDTH; ++i)
    x[i] = 0.999999f, y[i] = 1e-7f;
  for (long n = 0; n < kIterations; ++n)
    for (int c = 0; c < CHAINS; ++c)
      acc[c] = acc[c] * x + y;
  float sum = 0;
  for (int c = 0; c < CHAINS; ++c)
    for (int i = 0; i < WIDTH; ++i)
      sum += acc[c][i];
  *(float *)out = sum;
  return NULL;
}

static double seconds(void) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return t.tv_sec + 1e-9 * t.tv_nsec;
}

static double run(int threads) {
  pthread_t pool[256];
  float sink[256];
  double start = seconds();
  for (int t = 0; t < threads; ++t)
    pthread_create(&pool[t], NULL, spin, &sink[t]);
  for (int t = 0; t < threads; ++t)
    pthread_join(pool[t], NULL);
  double flops = 2.0 * CHAINS * WIDTH * (double)kIterations * threads;
  return flops / (seconds() - start) / 1e9;
}

int main(int argc, char **argv) {
  int threads = argc > 1 ? atoi(argv[1]) : 2;
  if (threads < 1 || threads > 256)
    return 1;
  printf("{\"gflops_1_thread\": %.1f, \"gflops_%d_threads\": %.1f}\n", run(1),
         threads, run(threads));
  return 0;
}
