// The one kernel of tbfix_cuda and its host launcher.
#include <cuda_runtime.h>

#include "kernel.h"

namespace {

__global__ void axpy_kernel(const float* x, const float* y, float* out, int n, float alpha) {
  const int i = blockIdx.x * blockDim.x + threadIdx.x;
  if (i < n) {
    out[i] = alpha * x[i] + y[i];
  }
}

}  // namespace

int tbfix_cuda_device_count(int* count) {
  *count = 0;
  const cudaError_t err = cudaGetDeviceCount(count);
  if (err != cudaSuccess) {
    *count = 0;
    cudaGetLastError();  // clear it so later calls are not blamed
  }
  return static_cast<int>(err);
}

int tbfix_cuda_axpy(const float* x, const float* y, float* out, int n, float alpha) {
  if (n <= 0) {
    return 0;
  }
  const size_t bytes = static_cast<size_t>(n) * sizeof(float);
  float* d = nullptr;
  cudaError_t err = cudaMalloc(&d, 3 * bytes);
  if (err != cudaSuccess) {
    cudaGetLastError();
    return static_cast<int>(err);
  }
  err = cudaMemcpy(d, x, bytes, cudaMemcpyHostToDevice);
  if (err == cudaSuccess) {
    err = cudaMemcpy(d + n, y, bytes, cudaMemcpyHostToDevice);
  }
  if (err == cudaSuccess) {
    const int threads = 128;
    axpy_kernel<<<(n + threads - 1) / threads, threads>>>(d, d + n, d + 2 * n, n, alpha);
    err = cudaGetLastError();
  }
  if (err == cudaSuccess) {
    err = cudaMemcpy(out, d + 2 * n, bytes, cudaMemcpyDeviceToHost);
  }
  cudaFree(d);
  return static_cast<int>(err);
}

const char* tbfix_cuda_error_name(int code) {
  return cudaGetErrorName(static_cast<cudaError_t>(code));
}

int tbfix_cuda_runtime_version() { return CUDART_VERSION; }
