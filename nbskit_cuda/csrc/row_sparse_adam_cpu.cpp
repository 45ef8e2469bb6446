// C++ row-sparse Adam step (see row_sparse_adam.h), rows split across threads.
#include <ATen/Parallel.h>

#include <algorithm>
#include <atomic>
#include <type_traits>

#include "row_sparse_adam.h"

namespace nbskit {
namespace {

constexpr int64_t kRowGrain = 1 << 12;  // rows per work item
// Rows checked together: a block whose rows are all touched (the usual case at fine levels) is
// updated as one run of values, which the compiler vectorises; a partly touched one row by row.
constexpr int64_t kRowBlock = 64;

// Updates the touched rows of [begin, end) (rows of `width` values); returns how many there were.
template <typename scalar_t, typename Width>
int64_t update_touched_rows(scalar_t* p, const scalar_t* g, scalar_t* m, scalar_t* v, int64_t begin, int64_t end,
                            Width width, const AdamCoefficients& a) {
  int64_t updated = 0;
  for (int64_t first = begin; first < end; first += kRowBlock) {
    const int64_t last = std::min(end, first + kRowBlock);
    int64_t touched = 0;
    for (int64_t r = first; r < last; ++r) touched += row_is_touched(g + r * width, width);
    if (touched == last - first) {
      const int64_t at = first * width;
      adam_update_values(p + at, g + at, m + at, v + at, (last - first) * width, a);
    } else if (touched > 0) {
      for (int64_t r = first; r < last; ++r) {
        const int64_t at = r * width;
        if (row_is_touched(g + at, width)) adam_update_values(p + at, g + at, m + at, v + at, int64_t(width), a);
      }
    }
    updated += touched;
  }
  return updated;
}

}  // namespace

at::Tensor row_sparse_adam_step_cpu(at::Tensor param, const at::Tensor& grad, at::Tensor exp_avg, at::Tensor exp_avg_sq,
                                    double beta1, double beta2, double eps, double step_size,
                                    double bias_correction2_sqrt) {
  check_adam_tensors(param, grad, exp_avg, exp_avg_sq);
  const int64_t features = param.size(-1);
  const int64_t rows = features == 0 ? 0 : param.numel() / features;
  const AdamCoefficients a{beta1, beta2, eps, step_size, bias_correction2_sqrt};
  std::atomic<int64_t> updated{0};
  AT_DISPATCH_FLOATING_TYPES(param.scalar_type(), "row_sparse_adam_step_cpu", [&] {
    scalar_t* p = param.data_ptr<scalar_t>();
    const scalar_t* g = grad.data_ptr<scalar_t>();
    scalar_t* m = exp_avg.data_ptr<scalar_t>();
    scalar_t* v = exp_avg_sq.data_ptr<scalar_t>();
    // `width` is a compile-time constant in the common cases, so the row checks unroll.
    auto sweep = [&](auto width) {
      at::parallel_for(0, rows, kRowGrain, [&](int64_t begin, int64_t end) {
        updated += update_touched_rows(p, g, m, v, begin, end, width, a);
      });
    };
    switch (features) {
      case 2: sweep(std::integral_constant<int64_t, 2>()); break;
      case 4: sweep(std::integral_constant<int64_t, 4>()); break;
      case 8: sweep(std::integral_constant<int64_t, 8>()); break;
      default: sweep(features); break;
    }
  });
  return at::scalar_tensor(static_cast<int64_t>(updated.load()), at::kLong);
}

}  // namespace nbskit
