// Host-side entry points of kernel.cu, callable from plain C++.
#pragma once

// Error code of the CUDA runtime's device query (0 on success); *count is 0 on error.
int tbfix_cuda_device_count(int* count);

// out[i] = alpha * x[i] + y[i] on the GPU; returns the CUDA error code (0 on success).
int tbfix_cuda_axpy(const float* x, const float* y, float* out, int n, float alpha);

// Name of a CUDA error code, e.g. "cudaErrorInsufficientDriver".
const char* tbfix_cuda_error_name(int code);

// The CUDA runtime version compiled in, e.g. 13000.
int tbfix_cuda_runtime_version();
