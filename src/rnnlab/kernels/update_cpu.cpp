// Keras's Adam update of one tensor in one pass over memory, with the finite-weights check.
//
//     m' = beta_1 m + (1 - beta_1) g         v' = beta_2 v + (1 - beta_2) g^2
//     w' = w - alpha m' / (sqrt(v') + epsilon)      (alpha: the bias-corrected rate, from Python)
//
// PyTorch's foreach form of the same update (rnnlab.training.update_rules.KerasAdam) reads and
// writes each tensor seven times; this pass reads w, g, m, v once and writes w', m', v' once.
// Each value is rounded as PyTorch's x86 CPU kernels (AVX2, AVX-512) round it, operation by
// operation: m * beta_1,
// then (1 - beta_1) g added in one fused multiply-add (add with alpha), v * beta_2, then
// ((1 - beta_2) g) g added in one fused multiply-add (addcmul), the square root, + epsilon, and
// w + ((-alpha) m') / d (addcdiv). std::fma fixes where a product is fused; nothing else here is
// a product added, so -ffp-contract cannot fuse more than PyTorch does. So m' and v' equal
// PyTorch's bit for bit; w' differs where PyTorch's square root (MKL's, within one unit in the
// last place) is not the correctly rounded one this pass takes: 1 value in about 1,700.
//
// The outputs may be the inputs (a step in place) or other tensors (a proposal the guard looks at
// before it takes it). Returns 1 when every w' is finite, 0 when one is not, 2 for a bad dtype.

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <limits>

extern "C" struct AdamArgs {
    int32_t dtype;  // 0 float32, 1 float64
    int32_t threads;
    int64_t size;
    const void* weights;
    const void* gradients;
    const void* m;
    const void* v;
    void* new_weights;
    void* new_m;
    void* new_v;
    double beta_1, beta_2, alpha, epsilon;  // cast to the dtype here, as PyTorch casts its scalars
};

namespace {

constexpr int64_t kMinValuesPerThread = int64_t(1) << 16;

template <typename T>
int adam(const AdamArgs& a) {
    const T* w = static_cast<const T*>(a.weights);
    const T* g = static_cast<const T*>(a.gradients);
    const T* m = static_cast<const T*>(a.m);
    const T* v = static_cast<const T*>(a.v);
    T* w_new = static_cast<T*>(a.new_weights);
    T* m_new = static_cast<T*>(a.new_m);
    T* v_new = static_cast<T*>(a.new_v);
    const T beta_1 = T(a.beta_1), beta_2 = T(a.beta_2), keep_1 = T(1.0 - a.beta_1), keep_2 = T(1.0 - a.beta_2);
    const T step = T(-a.alpha), epsilon = T(a.epsilon), largest = std::numeric_limits<T>::max();
    const int64_t n = a.size;
    const int threads = static_cast<int>(std::max<int64_t>(1, std::min<int64_t>(a.threads, n / kMinValuesPerThread)));
    int non_finite = 0;
#pragma omp parallel for simd num_threads(threads) schedule(static) reduction(| : non_finite) if (threads > 1)
    for (int64_t i = 0; i < n; ++i) {
        const T gi = g[i];
        const T m_kept = m[i] * beta_1;
        const T mi = std::fma(gi, keep_1, m_kept);
        const T v_kept = v[i] * beta_2;
        const T g_scaled = keep_2 * gi;
        const T vi = std::fma(g_scaled, gi, v_kept);
        const T denominator = std::sqrt(vi) + epsilon;
        const T wi = w[i] + (step * mi) / denominator;
        m_new[i] = mi;
        v_new[i] = vi;
        w_new[i] = wi;
        non_finite |= !(std::fabs(wi) <= largest);  // NaN compares false
    }
    return non_finite ? 0 : 1;
}

}  // namespace

// Whether std::fma is the processor's instruction here (built without it, the pass would call
// the C library for each value and lose to PyTorch's operations): Python runs the pass only then.
extern "C" int rnnlab_adam_has_fma() {
#if defined(__FMA__) || defined(__ARM_FEATURE_FMA)
    return 1;
#else
    return 0;
#endif
}

extern "C" int rnnlab_adam(const AdamArgs* a) {
    if (a->dtype == 0) return adam<float>(*a);
    if (a->dtype == 1) return adam<double>(*a);
    return 2;
}
