#include "large_buffer_cpu.h"

#if defined(__linux__)
#include <sys/mman.h>
#endif

namespace nbskit {
namespace {
constexpr int64_t kHugePageMinBytes = int64_t(32) << 20;  // below this the page faults are cheap
}

at::Tensor zeros_large_cpu(at::IntArrayRef sizes, at::ScalarType dtype) {
  const auto options = at::TensorOptions().dtype(dtype).device(at::kCPU);
#if defined(__linux__) && defined(MADV_HUGEPAGE)
  int64_t numel = 1;
  for (const int64_t s : sizes) numel *= s;
  const size_t bytes = static_cast<size_t>(numel) * at::elementSize(dtype);
  if (static_cast<int64_t>(bytes) >= kHugePageMinBytes) {
    // Anonymous mappings are zero-filled by the kernel.
    void* data = mmap(nullptr, bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (data != MAP_FAILED) {
      madvise(data, bytes, MADV_HUGEPAGE);  // advisory: ignored where THP is off
      return at::from_blob(
          data, sizes, [bytes](void* p) { munmap(p, bytes); }, options);
    }
  }
#endif
  return at::zeros(sizes, options);
}

}  // namespace nbskit
