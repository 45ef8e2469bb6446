#include "large_buffer_cpu.h"

#include <iterator>
#include <mutex>
#include <vector>

#if defined(__linux__)
#include <sys/mman.h>
#endif

namespace nbskit {
namespace {

constexpr int64_t kLargeMinBytes = int64_t(4) << 20;  // below this the page faults are cheap
constexpr int kKeptMappings = 4;  // e.g. a step's encoding output, blended-table gradient and table gradient

#if defined(__linux__) && defined(MADV_HUGEPAGE)
// The most recently freed large mappings (newest last), kept for later requests of the same size.
struct Mapping {
  void* data;
  size_t bytes;
};
struct RecycledMappings {
  std::mutex mutex;
  std::vector<Mapping> kept;
};

RecycledMappings& recycled() {
  static RecycledMappings slots;
  return slots;
}

void release_mapping(void* data, size_t bytes) {
  auto& slots = recycled();
  std::lock_guard<std::mutex> lock(slots.mutex);
  if (static_cast<int>(slots.kept.size()) == kKeptMappings) {  // drop the oldest
    munmap(slots.kept.front().data, slots.kept.front().bytes);
    slots.kept.erase(slots.kept.begin());
  }
  slots.kept.push_back({data, bytes});
}

// {mapping, recycled?}: a kept mapping of exactly `bytes` (old contents), else a fresh zero-filled
// one (nullptr if mmap fails).
std::pair<void*, bool> acquire_mapping(size_t bytes) {
  auto& slots = recycled();
  {
    std::lock_guard<std::mutex> lock(slots.mutex);
    for (auto it = slots.kept.rbegin(); it != slots.kept.rend(); ++it) {
      if (it->bytes == bytes) {
        void* data = it->data;
        slots.kept.erase(std::next(it).base());
        return {data, true};
      }
    }
  }
  void* data = mmap(nullptr, bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (data == MAP_FAILED) return {nullptr, false};
  madvise(data, bytes, MADV_HUGEPAGE);  // advisory: ignored where THP is off
  return {data, false};
}
#endif

// A large-buffer tensor, or an undefined one when the size is small or mapping is unavailable.
// `*zeroed` says whether its contents are known to be zero (a fresh anonymous mapping).
at::Tensor map_large(at::IntArrayRef sizes, at::ScalarType dtype, bool* zeroed) {
#if defined(__linux__) && defined(MADV_HUGEPAGE)
  int64_t numel = 1;
  for (const int64_t s : sizes) numel *= s;
  const size_t bytes = static_cast<size_t>(numel) * at::elementSize(dtype);
  if (static_cast<int64_t>(bytes) >= kLargeMinBytes) {
    const auto [data, reused] = acquire_mapping(bytes);
    if (data != nullptr) {
      *zeroed = !reused;
      return at::from_blob(
          data, sizes, [bytes](void* p) { release_mapping(p, bytes); },
          at::TensorOptions().dtype(dtype).device(at::kCPU));
    }
  }
#endif
  return at::Tensor();
}

}  // namespace

at::Tensor empty_large_cpu(at::IntArrayRef sizes, at::ScalarType dtype) {
  bool zeroed = false;
  auto tensor = map_large(sizes, dtype, &zeroed);
  return tensor.defined() ? tensor : at::empty(sizes, at::TensorOptions().dtype(dtype).device(at::kCPU));
}

at::Tensor zeros_large_cpu(at::IntArrayRef sizes, at::ScalarType dtype) {
  bool zeroed = false;
  auto tensor = map_large(sizes, dtype, &zeroed);
  if (!tensor.defined()) return at::zeros(sizes, at::TensorOptions().dtype(dtype).device(at::kCPU));
  if (!zeroed) tensor.zero_();
  return tensor;
}

}  // namespace nbskit
