// Python module of the CPU extension (all C++ kernels in one extension: one JIT build).
#include "bindings.h"

PYBIND11_MODULE(TORCH_EXTENSION_NAME, m) {
  m.doc() = "nbskit compiled core: C++ kernels (at::parallel_for)";
  NBSKIT_BIND_KERNELS(m, cpu);
}
