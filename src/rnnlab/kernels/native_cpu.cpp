// rnnlab's own CPU kernel: one recurrent layer over a whole sequence, forward and backward.
//
// Forward, per step t, for the rows [x_t | h_{t-1}] of a block of the batch:
//     acc = [x_t | h_{t-1}] @ [kernel; recurrent_kernel]     one multiply, weights packed per call
//     gates, new state, output                                one fused elementwise pass
// Backward, per step from the last: the pre-activation gradients dg in one elementwise pass,
// then [dx_t | dh_{t-1}] = dg @ [kernel; recurrent_kernel]^T. The weight gradients are one
// large multiply after the loop (done by PyTorch: [x | h_prev]^T @ dg over all steps).
//
// Each thread owns a block of batch rows for the whole sequence: a row's recurrence never
// needs another row, so the threads meet only at the end of the call.
//
// Cells (Keras gate order and equations): SimpleRNN (tanh or relu), LSTM (i, f, c, o),
// GRU (z, r, h) with the reset gate after the recurrent multiply (reset_after) or before.
// A mask (B, T) of bytes may have any pattern: a masked step keeps the state and repeats the
// previous output (zeros before the first valid step, or always zeros with zero_output).
//
// Layouts, row-major: x, outputs, d_outputs, d_inputs (B, T, .) with the given batch and time
// strides (a negative time stride reads the sequence backwards); kernel (F, G*U);
// recurrent_kernel (U, G*U); the buffers kept for backward are time-major, (T, B, .).

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <memory>
#include <optional>
#include <type_traits>
#include <utility>
#include <vector>

#if defined(__AVX512F__)
#include <immintrin.h>
#endif

namespace {

// ---------------------------------------------------------------------------------------
// Vectors: GCC/Clang vector extensions, as wide as the machine the library is built for.
#if defined(__AVX512F__)
constexpr int kVecBytes = 64;
#elif defined(__AVX__)
constexpr int kVecBytes = 32;
#else
constexpr int kVecBytes = 16;
#endif

template <typename T>
struct Vec {
    typedef T type __attribute__((vector_size(kVecBytes)));
    typedef T unaligned __attribute__((vector_size(kVecBytes), aligned(alignof(T))));  // loads, stores
    static constexpr int width = kVecBytes / sizeof(T);
};

constexpr int kPanelVecs = 2;  // a packed panel is two vectors wide
constexpr int kRowsPerTile = 6;  // a register tile: 6 rows x 2 vectors of accumulators

template <typename T>
constexpr int64_t panel_width() {
    return kPanelVecs * Vec<T>::width;
}

template <typename T>
int64_t padded(int64_t n) {
    const int64_t w = panel_width<T>();
    return (n + w - 1) / w * w;
}

// ---------------------------------------------------------------------------------------
// Matrix multiply. The right operand is packed: panel p holds columns [p*w, p*w + w) as K
// rows of w contiguous values (zero past N); panels lie panel_stride values apart, so rows
// [k0, k1) of a packed matrix are the same panels read from row k0 on.

// Pack B (K x N, element (k, n) at src[k * sk + n * sn]) into dst, panel_stride = K * w.
template <typename T>
void pack(const T* src, int64_t K, int64_t N, int64_t sk, int64_t sn, T* dst) {
    const int64_t w = panel_width<T>();
    for (int64_t p = 0; p < N; p += w) {
        T* panel = dst + p * K;
        for (int64_t k = 0; k < K; ++k)
            for (int64_t j = 0; j < w; ++j) panel[k * w + j] = p + j < N ? src[k * sk + (p + j) * sn] : T(0);
    }
}

// C (MR x w) = A (MR x K, row stride lda) @ one panel (K x w); C has row stride ldc.
template <typename T, int MR>
inline void tile(int64_t K, const T* A, int64_t lda, const T* panel, T* C, int64_t ldc) {
    using V = typename Vec<T>::type;
    using VU = typename Vec<T>::unaligned;
    constexpr int W = Vec<T>::width;
    V acc[MR][kPanelVecs];  // registers: after unrolling only constant indices remain
    for (int i = 0; i < MR; ++i)
        for (int v = 0; v < kPanelVecs; ++v) acc[i][v] = V{};
    for (int64_t k = 0; k < K; ++k) {
        V b[kPanelVecs];
        for (int v = 0; v < kPanelVecs; ++v) b[v] = *reinterpret_cast<const VU*>(panel + (k * kPanelVecs + v) * W);
        for (int i = 0; i < MR; ++i) {
            const T a = A[i * lda + k];
            for (int v = 0; v < kPanelVecs; ++v) acc[i][v] += a * b[v];
        }
    }
    for (int i = 0; i < MR; ++i)
        for (int v = 0; v < kPanelVecs; ++v) *reinterpret_cast<VU*>(C + i * ldc + v * W) = acc[i][v];
}

template <typename T, int MR>
inline void tile_rows(int64_t rows, int64_t K, const T* A, int64_t lda, const T* panel, T* C, int64_t ldc) {
    if constexpr (MR > 0) {
        if (rows == MR) return tile<T, MR>(K, A, lda, panel, C, ldc);
        return tile_rows<T, MR - 1>(rows, K, A, lda, panel, C, ldc);
    }
}

// C (M x padded(N), row stride ldc) = A (M x K, row stride lda) @ packed B. Each panel of B
// serves every row tile while it is in cache.
template <typename T>
void gemm(int64_t M, int64_t N, int64_t K, const T* A, int64_t lda, const T* B, int64_t panel_stride, T* C,
          int64_t ldc) {
    const int64_t w = panel_width<T>();
    for (int64_t p = 0; p < N; p += w) {
        const T* panel = B + (p / w) * panel_stride;
        for (int64_t i = 0; i < M; i += kRowsPerTile) {
            const int64_t rows = std::min<int64_t>(kRowsPerTile, M - i);
            tile_rows<T, kRowsPerTile>(rows, K, A + i * lda, lda, panel, C + i * ldc + p, ldc);
        }
    }
}

// C (M x N, row stride ldc) (+)= A (M x K, row stride lda) @ B (K x N, row-major, row stride
// ldb), for a few rows (M <= kFewRows): B is read once, row after row as it lies in memory,
// and unpacked, so a call on a small batch (sampling, one step at a time) never pays for
// packing; the rows of C stay in L1. Each value of C adds its products in the order k = 0, 1,
// ... as gemm does (MKL's multiply, which serves larger float blocks where present, may add
// them in another order: a row's result then depends on its block's size by a rounding).
constexpr int kFewRows = 4;

template <typename T, int MR>
void few_rows(int64_t N, int64_t K, const T* A, int64_t lda, const T* B, int64_t ldb, T* C, int64_t ldc,
              bool accumulate) {
    if (!accumulate)
        for (int i = 0; i < MR; ++i) std::memset(C + i * ldc, 0, N * sizeof(T));
    for (int64_t k = 0; k < K; ++k) {
        const T* b = B + k * ldb;
        for (int i = 0; i < MR; ++i) {
            const T a = A[i * lda + k];
            T* c = C + i * ldc;
#pragma omp simd
            for (int64_t j = 0; j < N; ++j) c[j] += a * b[j];
        }
    }
}

template <typename T>
void few_rows_any(int64_t M, int64_t N, int64_t K, const T* A, int64_t lda, const T* B, int64_t ldb, T* C,
                  int64_t ldc, bool accumulate) {
    for (int64_t i = 0; i < M; i += kFewRows) {  // blocks of more rows are packed (forward_cell); all rows count
        const T* a = A + i * lda;
        T* c = C + i * ldc;
        switch (std::min<int64_t>(M - i, kFewRows)) {
            case 1: few_rows<T, 1>(N, K, a, lda, B, ldb, c, ldc, accumulate); break;
            case 2: few_rows<T, 2>(N, K, a, lda, B, ldb, c, ldc, accumulate); break;
            case 3: few_rows<T, 3>(N, K, a, lda, B, ldb, c, ldc, accumulate); break;
            default: few_rows<T, 4>(N, K, a, lda, B, ldb, c, ldc, accumulate);
        }
    }
}

// ---------------------------------------------------------------------------------------
// Activations, a vector at a time. float: exp and tanh by range reduction and a polynomial
// (a few units in the last place); double: the C library, lane by lane.

using VF = Vec<float>::type;
typedef int32_t VI __attribute__((vector_size(kVecBytes)));

// (x + 1.5 * 2^23) - 1.5 * 2^23 rounds |x| < 2^22 to a whole number (float has 23 fraction bits)
inline VF round_v(VF x) {
    const float shift = 12582912.0f;
    return (x + shift) - shift;
}

// p * 2^n for whole numbers n, where the result is a normal number
inline VF ldexp_v(VF p, VF n) {
#if defined(__AVX512F__)
    return (VF)_mm512_scalef_ps((__m512)p, (__m512)n);
#else
    return (VF)((VI)p + (__builtin_convertvector(n, VI) << 23));  // add n to the exponent bits
#endif
}

inline VF clamp_v(VF x, float lo, float hi) {  // NaN stays NaN
    x = x < lo ? VF{} + lo : x;
    return x > hi ? VF{} + hi : x;
}

// x = n ln2 + r with n whole and |r| <= ln2 / 2 (ln2 split in two, so n * ln2_hi is exact)
constexpr float kLog2e = 1.44269504088896341f, kLn2Hi = 0.693145751953125f, kLn2Lo = 1.428606765330187e-06f;

// (e^r - 1) / r = 1 + r/2 + r^2/6 + ... by Taylor to degree 6, for |r| <= ln2 / 2 (relative error
// ~2e-8); e^r = 1 + r q(r) and e^r - 1 = r q(r) without the cancellation near 0.
inline VF expm1_over_r(VF r) {
    VF q = VF{} + 1.0f / 5040.0f;
    q = q * r + 1.0f / 720.0f;
    q = q * r + 1.0f / 120.0f;
    q = q * r + 1.0f / 24.0f;
    q = q * r + 1.0f / 6.0f;
    q = q * r + 0.5f;
    return q * r + 1.0f;
}

inline VF exp_approx(VF x) {  // e^x = 2^n e^r (relative error ~2e-7)
    const VF xc = clamp_v(x, -87.0f, 88.0f);  // e^x stays a normal number
    const VF n = round_v(xc * kLog2e);
    const VF r = (xc - n * kLn2Hi) - n * kLn2Lo;
    return ldexp_v(expm1_over_r(r) * r + 1.0f, n);
}

// tanh(x) = e / (e + 2) with e = e^2x - 1 = 2^n (e^r - 1) + (2^n - 1) for 2x = n ln2 + r.
inline VF tanh_v(VF x) {
    const VF y = clamp_v(x, -9.1f, 9.1f) * 2.0f;  // tanh(9.1) rounds to 1
    const VF n = round_v(y * kLog2e);
    const VF r = (y - n * kLn2Hi) - n * kLn2Lo;
    const VF s = ldexp_v(VF{} + 1.0f, n);
    const VF e = s * (expm1_over_r(r) * r) + (s - 1.0f);
    return e / (e + 2.0f);
}

inline VF sigmoid_v(VF x) { return 1.0f / (1.0f + exp_approx(-x)); }

using VD = Vec<double>::type;  // double: the C library, lane by lane
inline VD sigmoid_v(VD x) {
    for (int i = 0; i < Vec<double>::width; ++i) x[i] = 1.0 / (1.0 + std::exp(-x[i]));
    return x;
}
inline VD tanh_v(VD x) {
    for (int i = 0; i < Vec<double>::width; ++i) x[i] = std::tanh(x[i]);
    return x;
}

template <typename T>
inline void sigmoid_block(T* x, int64_t n) {  // n a multiple of the vector width
    using VU = typename Vec<T>::unaligned;
    for (int64_t j = 0; j < n; j += Vec<T>::width) {
        VU& v = *reinterpret_cast<VU*>(x + j);
        v = sigmoid_v(v);
    }
}

template <typename T>
inline void tanh_block(T* x, int64_t n) {  // n a multiple of the vector width
    using VU = typename Vec<T>::unaligned;
    for (int64_t j = 0; j < n; j += Vec<T>::width) {
        VU& v = *reinterpret_cast<VU*>(x + j);
        v = tanh_v(v);
    }
}

// The first n lanes of a vector at p (n < width): loaded with zeros in the others, stored alone,
// so a row's last U % width lanes touch nothing past the row. AVX-512 masks them; otherwise
// lane by lane.
template <typename T>
inline typename Vec<T>::type load_first(const T* p, int64_t n) {
#if defined(__AVX512F__)
    if constexpr (std::is_same_v<T, float>) return (VF)_mm512_maskz_loadu_ps(__mmask16((1u << n) - 1), p);
    else return (VD)_mm512_maskz_loadu_pd(__mmask8((1u << n) - 1), p);
#else
    typename Vec<T>::type v{};
    for (int64_t i = 0; i < n; ++i) v[i] = p[i];
    return v;
#endif
}

template <typename T>
inline void store_first(T* p, typename Vec<T>::type v, int64_t n) {
#if defined(__AVX512F__)
    if constexpr (std::is_same_v<T, float>) _mm512_mask_storeu_ps(p, __mmask16((1u << n) - 1), (__m512)v);
    else _mm512_mask_storeu_pd(p, __mmask8((1u << n) - 1), (__m512d)v);
#else
    for (int64_t i = 0; i < n; ++i) p[i] = v[i];
#endif
}

// ----- the LSTM's step for one row, in one pass ------------------------------------------
// From the row's pre-activations z = [i | f | c | o] (gate k at z + k * U) plus the input side's
// share `in` (the bias, or a table row; same layout), n lanes (a whole vector, or with TAIL the
// row's last n):
//     i, f, o = sigmoid(.), g = tanh(.), c = f * c_prev + i * g, h = o * tanh(c)
// The activated gates go back over z and tanh(c) to tanh_c when training keeps them.
template <typename T, bool SAVE, bool TAIL>
inline void lstm_lanes(T* z, const T* in, int64_t U, const T* c_prev, T* c, T* tanh_c, T* h, int64_t n) {
    using V = typename Vec<T>::type;
    using VU = typename Vec<T>::unaligned;
    auto at = [n](const T* p) -> V {
        if constexpr (TAIL) return load_first(p, n);
        else return V(*reinterpret_cast<const VU*>(p));
    };
    auto put = [n](T* p, V v) {
        if constexpr (TAIL) store_first(p, v, n);
        else *reinterpret_cast<VU*>(p) = v;
    };
    const V i = sigmoid_v(at(z) + at(in));
    const V f = sigmoid_v(at(z + U) + at(in + U));
    const V g = tanh_v(at(z + 2 * U) + at(in + 2 * U));
    const V o = sigmoid_v(at(z + 3 * U) + at(in + 3 * U));
    const V cn = f * at(c_prev) + i * g;
    const V tc = tanh_v(cn);
    put(c, cn);
    put(h, o * tc);
    if constexpr (SAVE) {
        put(z, i), put(z + U, f), put(z + 2 * U, g), put(z + 3 * U, o);
        put(tanh_c, tc);
    }
}

template <typename T, bool SAVE>
inline void lstm_row(T* z, const T* in, const T* c_prev, T* c, T* tanh_c, T* h, int64_t U) {
    constexpr int64_t W = Vec<T>::width;
    int64_t j = 0;
    for (; j + W <= U; j += W)
        lstm_lanes<T, SAVE, false>(z + j, in + j, U, c_prev + j, c + j, tanh_c + j, h + j, W);
    if (j < U) lstm_lanes<T, SAVE, true>(z + j, in + j, U, c_prev + j, c + j, tanh_c + j, h + j, U - j);
}

// Python's copy: NativeCell in cells/fused_form.py, checked against rnnlab_cell_name().
enum Cell : int32_t { kSimpleTanh = 0, kSimpleRelu = 1, kLSTM = 2, kGRU = 3, kGRUResetBefore = 4 };

constexpr int64_t gates_of(int32_t cell) { return cell == kLSTM ? 4 : cell >= kGRU ? 3 : 1; }
constexpr bool is_gru(int32_t cell) { return cell == kGRU || cell == kGRUResetBefore; }

}  // namespace

// ---------------------------------------------------------------------------------------
// A call's arguments, as one struct that Python fills (ctypes). Sizes and strides count
// elements. Pointers the call does not use may be null.
extern "C" struct Args {
    int32_t dtype;  // 0 float32, 1 float64
    int32_t cell;  // Cell
    int32_t zero_output;  // masked steps output zeros instead of repeating the previous output
    int32_t threads;
    int64_t batch, time, features, units;
    int64_t x_batch_stride, x_time_stride;  // of x and d_inputs
    int64_t d_out_batch_stride, d_out_time_stride;  // of d_outputs
    const void* x;  // (B, T, F), strided
    const void* kernel;  // (F, G*U)
    const void* recurrent_kernel;  // (U, G*U)
    const void* input_bias;  // (G*U,)
    const void* recurrent_bias;  // (G*U,): GRU with reset_after
    const void* h0;  // (B, U)
    const void* c0;  // (B, U): LSTM
    const uint8_t* mask;  // (B, T)
    void* outputs;  // (B, T, U), contiguous
    void* hT;  // (B, U)
    void* cT;  // (B, U)
    // kept for backward (training), time-major
    void* xh;  // (T, B, F+U): the rows [x_t | h_{t-1}] each step multiplied
    void* cells;  // (T, B, U): LSTM c_t
    void* gates;  // (T, B, rnnlab_gate_width): activated gates, padded rows (GRU: z, r | candidate)
    void* extra;  // (T, B, U): LSTM tanh(c_t); GRU h_{t-1} @ U_h + b_h (reset_after) or r * h_{t-1}
    // backward
    const void* d_outputs;  // (B, T, U), strided
    const void* d_hT;  // (B, U)
    const void* d_cT;  // (B, U)
    void* d_gates;  // (T, B, G*U): gradients of the pre-activations, input side
    void* d_gates_rec;  // (T, B, G*U): recurrent side (GRU with reset_after: the candidate's differs)
    void* d_inputs;  // (B, T, F), strided like x; null when x needs no gradient
    void* d_h0;  // (B, U)
    void* d_c0;  // (B, U)
    // MKL's packed multiply, from the PyTorch library in this process (null without MKL)
    const void* blas_pack_size;  // cblas_sgemm_pack_get_size
    const void* blas_pack;  // cblas_sgemm_pack
    const void* blas_compute;  // cblas_sgemm_compute
    int64_t blas_min_values;  // the smallest right operand (K * N values) MKL multiplies
    // A table of the input side's rows: with ids (B, T), x is a table of rows of G*U values (a
    // token's embedding @ kernel + input_bias, or a step's x_t @ kernel + input_bias), and step t
    // of row b adds row ids[b * T + t] of it where the others multiply x_t by the kernel; features
    // is 0, and what training keeps has no x (xh holds the rows h_{t-1}).
    const int64_t* ids;
    int64_t last_only;  // outputs is (B, 1, U) and holds step T-1's output alone (inference)
};

namespace {

struct Block {  // one thread's rows
    int64_t begin, end;
};

// Row blocks for the threads: no more threads than blocks of kMinRows rows, and one thread
// when the call is too small to repay waking another.
constexpr int64_t kMinRows = 4;
constexpr double kMinWorkPerThread = 2e6;  // multiply-adds

std::vector<Block> blocks(const Args& a) {
    const int64_t GU = gates_of(a.cell) * a.units;
    const double work = double(a.batch) * double(a.time) * double(a.features + a.units) * double(GU);
    int64_t n = std::min<int64_t>(a.threads, a.batch / kMinRows);
    n = std::min<int64_t>(n, static_cast<int64_t>(work / kMinWorkPerThread));
    n = std::max<int64_t>(n, 1);
    std::vector<Block> out;
    for (int64_t i = 0; i < n; ++i) out.push_back({a.batch * i / n, a.batch * (i + 1) / n});
    return out;
}

template <typename T>
T* buffer(std::vector<T>& storage, int64_t n) {  // zeroed, 64-byte aligned
    storage.assign(n + 64 / sizeof(T), T(0));
    uintptr_t p = reinterpret_cast<uintptr_t>(storage.data());
    return reinterpret_cast<T*>((p + 63) & ~uintptr_t(63));
}

// Memory as large as the weights (their packings and copies: 4 MB each at 512 units), not
// zeroed, that outlives a call: a call taking fresh memory from the allocator would pay for it
// again, page by page, at every call. A thread keeps what its calls gave back, up to kKeptBytes,
// and hands it out again (the packing runs on the calling thread, outside the parallel regions);
// rnnlab_release() lets the calling thread's go.
constexpr size_t kKeptBytes = size_t(64) << 20;

struct Memory {
    size_t bytes = 0;
    std::unique_ptr<unsigned char[]> data;
};

thread_local std::vector<Memory> kept_memory;

template <typename T>
class Scratch {
  public:
    explicit Scratch(int64_t n) {
        const size_t bytes = size_t(n) * sizeof(T) + 64;
        auto fits = kept_memory.end();  // the smallest kept block of bytes up to 2 * bytes
        for (auto m = kept_memory.begin(); m != kept_memory.end(); ++m)
            if (m->bytes >= bytes && m->bytes <= 2 * bytes && (fits == kept_memory.end() || m->bytes < fits->bytes))
                fits = m;
        if (fits != kept_memory.end()) {
            memory_ = std::move(*fits);
            kept_memory.erase(fits);
        } else {
            memory_.bytes = bytes;
            memory_.data.reset(new unsigned char[bytes]);
        }
    }
    Scratch(Scratch&&) = default;
    Scratch& operator=(Scratch&&) = delete;
    ~Scratch() {
        if (memory_.data == nullptr) return;
        size_t held = memory_.bytes;
        for (const Memory& m : kept_memory) held += m.bytes;
        if (held <= kKeptBytes) kept_memory.push_back(std::move(memory_));
    }
    T* data() const {  // 64-byte aligned
        const uintptr_t p = reinterpret_cast<uintptr_t>(memory_.data.get());
        return reinterpret_cast<T*>((p + 63) & ~uintptr_t(63));
    }

  private:
    Memory memory_;
};

// ---------------------------------------------------------------------------------------
// A right operand B (K x N) of every step's multiply C = A @ B, packed once per call. With
// float and MKL in the process (PyTorch's own, whose entry points Python passes in), MKL's
// packed multiply runs it when B has blas_min_values values or more (Python's BLAS_MIN_VALUES).
// MKL's packed format depends on the row count M of A, so one packing is kept per block size.
// Inside this file's parallel region MKL runs on the calling thread: Python passes MKL's entry
// points only where the process maps one OpenMP runtime, shared by MKL and this library.
// Otherwise this file's panels. B's element (k, n) lies at src[k * sk + n * sn], where sn == 1
// (B row-major) or sk == 1 (B stored transposed).
enum CblasConstant : int { kRowMajor = 101, kNoTrans = 111, kTrans = 112, kPacked = 151, kBMatrix = 162 };
typedef size_t (*PackSizeFn)(int, int, int, int);
typedef void (*PackFn)(int, int, int, int, int, int, float, const float*, int, float*);
typedef void (*ComputeFn)(int, int, int, int, int, int, const float*, int, const float*, int, float, float*, int);

template <typename T>
struct Operand {
    int64_t K = 0, N = 0;
    std::optional<Scratch<T>> storage;  // this file's panels
    const T* panels = nullptr;
    std::vector<std::pair<int64_t, Scratch<float>>> mkl;  // (M, MKL's packing for M rows)
    ComputeFn compute = nullptr;

    // Pack for the row counts M a call multiplies with (MKL only) or for any M (this file's).
    void prepare(const Args& a, const T* src, int64_t K_, int64_t N_, int64_t sk, int64_t sn,
                 const std::vector<int64_t>& row_counts) {
        K = K_, N = N_;
        if constexpr (std::is_same_v<T, float>) {
            if (a.blas_compute != nullptr && K * N >= a.blas_min_values) {
                compute = reinterpret_cast<ComputeFn>(a.blas_compute);
                const auto size = reinterpret_cast<PackSizeFn>(a.blas_pack_size);
                const auto pack_mkl = reinterpret_cast<PackFn>(a.blas_pack);
                const bool row_major = sn == 1;
                for (int64_t M : row_counts) {
                    if (std::any_of(mkl.begin(), mkl.end(), [M](const auto& e) { return e.first == M; })) continue;
                    Scratch<float> packed(size(kBMatrix, M, N, K) / sizeof(float) + 1);
                    pack_mkl(kRowMajor, kBMatrix, row_major ? kNoTrans : kTrans, M, N, K, 1.0f, src,
                             row_major ? sk : sn, packed.data());
                    mkl.emplace_back(M, std::move(packed));
                }
                return;
            }
        }
        T* dst = storage.emplace(padded<T>(N) * K).data();
        pack(src, K, N, sk, sn, dst);
        panels = dst;
    }

    // C (M x N, row stride ldc; this file's gemm fills padded(N) columns) = A (M x K) @ B, for an M
    // that prepare() was given (the callers' block sizes)
    void multiply(int64_t M, const T* A, int64_t lda, T* C, int64_t ldc) const {
        if constexpr (std::is_same_v<T, float>) {
            if (compute != nullptr) {
                for (const auto& [rows, packed] : mkl)
                    if (rows == M)
                        return compute(kRowMajor, kNoTrans, kPacked, M, N, K, A, lda, packed.data(), N, 0.0f, C, ldc);
            }
        }
        gemm<T>(M, N, K, A, lda, panels, K * panel_width<T>(), C, ldc);
    }
};

// The row counts of the blocks a call's threads take.
std::vector<int64_t> row_counts(const std::vector<Block>& parts) {
    std::vector<int64_t> out;
    for (const Block& b : parts) out.push_back(b.end - b.begin);
    return out;
}

// The forward weights [kernel; recurrent_kernel] ((F+U) x G*U). Blocks of many rows use them
// packed, in two column groups: [0, split) and [split, G*U) (split = 2U for the GRU, whose
// candidate is multiplied apart; G*U otherwise). Blocks of a few rows read them unpacked.
template <typename T>
struct Weights {
    const T* kernel;  // (F, G*U)
    const T* recurrent;  // (U, G*U)
    int64_t F, U, GU, split;
    bool packed = false;
    Operand<T> first;  // [kernel; recurrent_kernel][:, :split]
    Operand<T> input_second, recurrent_second;  // kernel[:, split:], recurrent_kernel[:, split:]

    Weights(const Args& a)
        : kernel(static_cast<const T*>(a.kernel)),
          recurrent(static_cast<const T*>(a.recurrent_kernel)),
          F(a.features),
          U(a.units),
          GU(gates_of(a.cell) * a.units),
          split(is_gru(a.cell) ? 2 * a.units : gates_of(a.cell) * a.units) {}

    void pack_all(const Args& a, const std::vector<int64_t>& rows) {
        const int64_t K = F + U;
        Scratch<T> both(K * GU);
        std::memcpy(both.data(), kernel, F * GU * sizeof(T));
        std::memcpy(both.data() + F * GU, recurrent, U * GU * sizeof(T));
        first.prepare(a, both.data(), K, split, GU, 1, rows);
        if (split < GU) {
            input_second.prepare(a, kernel + split, F, GU - split, GU, 1, rows);
            recurrent_second.prepare(a, recurrent + split, U, GU - split, GU, 1, rows);
        }
        packed = true;
    }

    // C = [x | h] @ group 1: A holds M rows of K = F+U values
    void group1(int64_t M, const T* A, T* C, int64_t ldc) const {
        const int64_t K = F + U;
        if (packed) return first.multiply(M, A, K, C, ldc);
        few_rows_any<T>(M, split, F, A, K, kernel, GU, C, ldc, false);
        few_rows_any<T>(M, split, U, A + F, K, recurrent, GU, C, ldc, true);
    }

    // C = x @ kernel[:, split:], A's rows start with x (row stride lda)
    void input2(int64_t M, const T* A, int64_t lda, T* C, int64_t ldc) const {
        if (packed) return input_second.multiply(M, A, lda, C, ldc);
        few_rows_any<T>(M, GU - split, F, A, lda, kernel + split, GU, C, ldc, false);
    }

    // C = A @ recurrent_kernel[:, split:], A (M x U, row stride lda)
    void recurrent2(int64_t M, const T* A, int64_t lda, T* C, int64_t ldc) const {
        if (packed) return recurrent_second.multiply(M, A, lda, C, ldc);
        few_rows_any<T>(M, GU - split, U, A, lda, recurrent + split, GU, C, ldc, false);
    }
};

// A short copy, inlined (the build turns off GCC's rewriting of such loops into memcpy calls,
// which cost more than the copy for a row of a few dozen values).
template <typename T>
inline void copy(T* dst, const T* src, int64_t n) {
#pragma omp simd
    for (int64_t j = 0; j < n; ++j) dst[j] = src[j];
}

// The width of a row of gates as the loop keeps them, padded: (G*U) rounded up, and for the
// GRU the candidate's columns apart from z, r.
template <typename T>
int64_t gate_width(int32_t cell, int64_t U) {
    return is_gru(cell) ? padded<T>(2 * U) + padded<T>(U) : padded<T>(gates_of(cell) * U);
}

// ----- forward: one thread's rows over the whole sequence -------------------------------
// Training (SAVE) writes straight into the buffers backward reads: the multiplied rows
// [x_t | h_{t-1}] are xh[t], h_t goes to xh[t+1], the gates are computed in gates[t], the
// LSTM's c_t in cells[t]. Inference uses scratch rows instead.
template <typename T, int32_t CELL, bool SAVE>
void forward_block(const Args& a, const Weights<T>& wts, Block blk) {
    const int64_t T_ = a.time, B = a.batch, F = a.features, U = a.units, K = F + U;
    const int64_t M = blk.end - blk.begin, b0 = blk.begin, GU = gates_of(CELL) * U;
    const int64_t Np = gate_width<T>(CELL, U), Up = padded<T>(U);
    const int64_t Zp = padded<T>(2 * U);  // GRU: where the candidate's columns start in a gate row
    std::vector<T> s_xh, s_last, s_acc, s_c, s_tmp, s_e, s_xc, s_zero;
    T* xh_scratch = buffer(s_xh, M * K);
    T* last = SAVE ? buffer(s_last, M * K) : xh_scratch;  // where h_{T-1} goes when training
    T* acc_scratch = buffer(s_acc, M * Np);
    T* c_scratch = buffer(s_c, M * U);
    T* tmp = buffer(s_tmp, M * Up);  // the argument of the second activation pass
    T* e_scratch = buffer(s_e, M * U);
    T* xc = buffer(s_xc, M * Up);  // GRU: x @ W_h + b_h (input side of the candidate)
    const T* zeros = buffer(s_zero, Np);
    std::vector<uint8_t> seen(M, 0);  // has the row had a valid step (masks)
    const T* x = static_cast<const T*>(a.x);
    const T* ib = a.input_bias ? static_cast<const T*>(a.input_bias) : zeros;
    const T* rb = a.recurrent_bias ? static_cast<const T*>(a.recurrent_bias) : zeros;
    const T* h0 = static_cast<const T*>(a.h0) + b0 * U;
    const T* c0 = static_cast<const T*>(a.c0) + b0 * U;
    T* out = static_cast<T*>(a.outputs);
    T* xh_saved = static_cast<T*>(a.xh);
    T* cs = static_cast<T*>(a.cells);
    T* gs = static_cast<T*>(a.gates);
    T* ex = static_cast<T*>(a.extra);
    T* first = SAVE ? xh_saved + b0 * K : xh_scratch;
    for (int64_t m = 0; m < M; ++m) copy(first + m * K + F, h0 + m * U, U);
    if (CELL == kLSTM && !SAVE) copy(c_scratch, c0, M * U);
    auto valid = [&](int64_t m, int64_t t) { return a.mask == nullptr || a.mask[(b0 + m) * T_ + t]; };
    // what the input side adds to row m's gates at step t: the bias, or the table's row for its id
    auto input_row = [&](int64_t m, int64_t t) { return a.ids == nullptr ? ib : x + a.ids[(b0 + m) * T_ + t] * GU; };

    for (int64_t t = 0; t < T_; ++t) {
        const int64_t row0 = t * B + b0;  // this block's first row in the time-major buffers
        T* cur = SAVE ? xh_saved + row0 * K : xh_scratch;  // [x_t | h_{t-1}]
        T* nxt = SAVE ? (t + 1 < T_ ? xh_saved + (row0 + B) * K : last) : xh_scratch;  // h_t at column F
        T* acc = SAVE && CELL != kSimpleTanh && CELL != kSimpleRelu ? gs + row0 * Np : acc_scratch;
        T* e = SAVE && is_gru(CELL) ? ex + row0 * U : e_scratch;
        const T* c_prev = !SAVE ? c_scratch : t > 0 ? cs + (row0 - B) * U : c0;
        T* c_new = SAVE ? cs + row0 * U : c_scratch;
        for (int64_t m = 0; m < M; ++m) copy(cur + m * K, x + (b0 + m) * a.x_batch_stride + t * a.x_time_stride, F);

        if constexpr (is_gru(CELL)) {
            wts.group1(M, cur, acc, Np);  // z, r
            if (a.ids == nullptr) wts.input2(M, cur, K, acc + Zp, Np);  // x @ W_h
            for (int64_t m = 0; m < M; ++m) {
                T* r = acc + m * Np;
                T* xcm = xc + m * Up;
                const T* in = input_row(m, t);
#pragma omp simd
                for (int64_t j = 0; j < 2 * U; ++j) r[j] += in[j] + rb[j];
                if (a.ids == nullptr) {
#pragma omp simd
                    for (int64_t j = 0; j < U; ++j) xcm[j] = r[Zp + j] + in[2 * U + j];
                } else {
                    copy(xcm, in + 2 * U, U);
                }
            }
            sigmoid_block(acc, M * Np);  // z, r (the candidate's columns are rewritten below)
            if (CELL == kGRU) {  // h @ U_h + b_h, then r * (...)
                wts.recurrent2(M, cur + F, K, acc + Zp, Np);
                for (int64_t m = 0; m < M; ++m) {
                    const T* r = acc + m * Np;
                    T* em = e + m * U;
                    T* tm = tmp + m * Up;
                    const T* xcm = xc + m * Up;
#pragma omp simd
                    for (int64_t j = 0; j < U; ++j) {
                        em[j] = r[Zp + j] + rb[2 * U + j];
                        tm[j] = xcm[j] + r[U + j] * em[j];
                    }
                }
            } else {  // (r * h) @ U_h
                for (int64_t m = 0; m < M; ++m) {
                    const T* r = acc + m * Np;
                    const T* hm = cur + m * K + F;
                    T* em = e + m * U;
#pragma omp simd
                    for (int64_t j = 0; j < U; ++j) em[j] = r[U + j] * hm[j];
                }
                wts.recurrent2(M, e, U, acc + Zp, Np);
                for (int64_t m = 0; m < M; ++m) {
                    const T* r = acc + m * Np;
                    T* tm = tmp + m * Up;
                    const T* xcm = xc + m * Up;
#pragma omp simd
                    for (int64_t j = 0; j < U; ++j) tm[j] = xcm[j] + r[Zp + j];
                }
            }
            tanh_block(tmp, M * Up);  // the candidate
        } else if constexpr (CELL == kLSTM) {
            wts.group1(M, cur, acc, Np);
            for (int64_t m = 0; m < M; ++m) {
                const T* cp = c_prev + m * U;
                T* cm = c_new + m * U;
                if (!valid(m, t)) {  // the state stays
                    if (cm != cp) copy(cm, cp, U);
                    continue;
                }
                T* tanh_c = SAVE ? ex + (row0 + m) * U : nullptr;
                lstm_row<T, SAVE>(acc + m * Np, input_row(m, t), cp, cm, tanh_c, nxt + m * K + F, U);
            }
        } else {
            wts.group1(M, cur, acc, Np);
            for (int64_t m = 0; m < M; ++m) {
                T* r = acc + m * Np;
                const T* in = input_row(m, t);
#pragma omp simd
                for (int64_t j = 0; j < GU; ++j) r[j] += in[j];
            }
            if (CELL == kSimpleTanh) tanh_block(acc, M * Np);
        }
        // the new states and outputs
        for (int64_t m = 0; m < M; ++m) {
            const int64_t b = b0 + m;
            const T* hp = cur + m * K + F;
            T* hm = nxt + m * K + F;
            const bool writes = !a.last_only || t == T_ - 1;
            T* o = a.last_only ? out + b * U : out + (b * T_ + t) * U;
            if (!valid(m, t)) {  // the state stays; the output repeats the last valid one, or is zero
                if (hm != hp) copy(hm, hp, U);
                if (!writes) continue;
                if (seen[m] && !a.zero_output) copy(o, hp, U);
                else std::memset(o, 0, U * sizeof(T));
                continue;
            }
            seen[m] = 1;
            T* r = acc + m * Np;
            const T* tm = tmp + m * Up;
            if constexpr (CELL == kSimpleTanh) {
                copy(hm, r, U);
            } else if constexpr (CELL == kSimpleRelu) {
#pragma omp simd
                for (int64_t j = 0; j < U; ++j) hm[j] = r[j] > T(0) ? r[j] : T(0);
            } else if constexpr (CELL == kLSTM) {
                // h_t is in place already (lstm_row)
            } else {
#pragma omp simd
                for (int64_t j = 0; j < U; ++j) {
                    hm[j] = r[j] * hp[j] + (T(1) - r[j]) * tm[j];
                    r[Zp + j] = tm[j];  // the candidate, kept with z and r
                }
            }
            if (writes) copy(o, hm, U);
        }
    }
    T* final_h = SAVE ? last : xh_scratch;
    const T* final_c = SAVE ? cs + ((T_ - 1) * B + b0) * U : c_scratch;
    for (int64_t m = 0; m < M; ++m) copy(static_cast<T*>(a.hT) + (b0 + m) * U, final_h + m * K + F, U);
    if (CELL == kLSTM) copy(static_cast<T*>(a.cT) + b0 * U, T_ > 0 ? final_c : c0, M * U);
}

// ----- backward: one thread's rows, from the last step to the first ---------------------
// The transposed weights each step multiplies by: wt = [kernel; recurrent_kernel]^T (G*U x K),
// or recurrent_kernel^T alone when x needs no gradient, for SimpleRNN and LSTM; for the GRU
// kt = kernel^T (3U x F), rt = recurrent_kernel^T (3U x U) (reset after) or its rows [0, 2U)
// and [2U, 3U) apart (reset before).
template <typename T>
struct Transposed {
    Operand<T> wt, kt, rt, rt_zr, rt_h;
};

template <typename T, int32_t CELL>
void backward_block(const Args& a, Block blk, const Transposed<T>& wts) {
    const int64_t T_ = a.time, B = a.batch, F = a.features, U = a.units, K = F + U;
    const int64_t GU = gates_of(CELL) * U, M = blk.end - blk.begin, Up = padded<T>(U);
    const int64_t Kp = padded<T>(K), Fp = padded<T>(F), Np = gate_width<T>(CELL, U), Zp = padded<T>(2 * U);
    const bool need_dx = a.d_inputs != nullptr;
    std::vector<T> s_dh, s_dc, s_acc, s_dxa, s_zdh, s_drh;
    T* dh = buffer(s_dh, M * Up);  // d loss / d h_t, carried backwards
    T* dc = buffer(s_dc, M * Up);
    T* acc = buffer(s_acc, M * Kp);  // [dx | dh_prev], or dh_prev alone
    T* dxa = buffer(s_dxa, M * Fp);  // GRU: dx
    T* zdh = buffer(s_zdh, M * Up);  // GRU: dh * z, the direct path to h_{t-1}
    T* drh = buffer(s_drh, M * Up);  // GRU reset before: d (r * h_{t-1})
    const T* dout = static_cast<const T*>(a.d_outputs);
    const T* xh = static_cast<const T*>(a.xh);
    const T* out = static_cast<const T*>(a.outputs);
    const T* cs = static_cast<const T*>(a.cells);
    const T* gs = static_cast<const T*>(a.gates);
    const T* ex = static_cast<const T*>(a.extra);
    const T* c0 = static_cast<const T*>(a.c0);
    T* dg = static_cast<T*>(a.d_gates);
    T* dgr = CELL == kGRU ? static_cast<T*>(a.d_gates_rec) : dg;
    T* dx = static_cast<T*>(a.d_inputs);
    for (int64_t m = 0; m < M; ++m) {
        const int64_t b = blk.begin + m;
        if (a.d_hT) std::memcpy(dh + m * Up, static_cast<const T*>(a.d_hT) + b * U, U * sizeof(T));
        if (CELL == kLSTM && a.d_cT) std::memcpy(dc + m * Up, static_cast<const T*>(a.d_cT) + b * U, U * sizeof(T));
    }
    // Step t's output is the state h_t when t is valid, or when the step repeats an earlier
    // valid output: then its gradient flows into the state.
    std::vector<int64_t> first_valid(M, 0);
    if (a.mask != nullptr) {
        for (int64_t m = 0; m < M; ++m) {
            const uint8_t* row = a.mask + (blk.begin + m) * T_;
            int64_t t = 0;
            while (t < T_ && !row[t]) ++t;
            first_valid[m] = t;
        }
    }
    auto valid = [&](int64_t m, int64_t t) { return a.mask == nullptr || a.mask[(blk.begin + m) * T_ + t]; };

    for (int64_t t = T_ - 1; t >= 0; --t) {
        for (int64_t m = 0; m < M; ++m) {
            const int64_t b = blk.begin + m, tb = t * B + b;
            const bool v = valid(m, t);
            T* dhm = dh + m * Up;
            if (dout != nullptr && (v || (!a.zero_output && first_valid[m] < t))) {
                const T* d = dout + b * a.d_out_batch_stride + t * a.d_out_time_stride;
#pragma omp simd
                for (int64_t j = 0; j < U; ++j) dhm[j] += d[j];
            }
            T* d_in = dg + tb * GU;
            T* d_rec = dgr + tb * GU;
            if (!v) {  // no gradient reaches this step's weights; dh passes through unchanged
                std::memset(d_in, 0, GU * sizeof(T));
                if (CELL == kGRU) std::memset(d_rec, 0, GU * sizeof(T));
                continue;
            }
            const T* hprev = xh + tb * K + F;
            if constexpr (CELL == kSimpleTanh || CELL == kSimpleRelu) {
                const T* hn = out + (b * T_ + t) * U;  // a valid step's output is its state
#pragma omp simd
                for (int64_t j = 0; j < U; ++j) {
                    const T deriv = CELL == kSimpleTanh ? T(1) - hn[j] * hn[j] : (hn[j] > T(0) ? T(1) : T(0));
                    d_in[j] = dhm[j] * deriv;
                }
            } else if constexpr (CELL == kLSTM) {
                const T* g = gs + tb * Np;
                const T *gi = g, *gf = g + U, *gc = g + 2 * U, *go = g + 3 * U;
                const T* cp = t > 0 ? cs + (tb - B) * U : c0 + b * U;
                const T* tcm = ex + tb * U;  // tanh(c_t)
                T* dcm = dc + m * Up;
#pragma omp simd
                for (int64_t j = 0; j < U; ++j) {
                    const T i = gi[j], f = gf[j], cc = gc[j], o = go[j], tcj = tcm[j];
                    const T dcj = dcm[j] + dhm[j] * o * (T(1) - tcj * tcj);
                    d_in[j] = dcj * cc * i * (T(1) - i);
                    d_in[U + j] = dcj * cp[j] * f * (T(1) - f);
                    d_in[2 * U + j] = dcj * i * (T(1) - cc * cc);
                    d_in[3 * U + j] = dhm[j] * tcj * o * (T(1) - o);
                    dcm[j] = dcj * f;
                }
            } else {  // GRU; with the reset gate before the multiply, dr waits for d(r * h)
                const T* g = gs + tb * Np;
                const T *gz = g, *gr = g + U, *gh = g + Zp;
                const T* e = ex + tb * U;
                T* zm = zdh + m * Up;
#pragma omp simd
                for (int64_t j = 0; j < U; ++j) {
                    const T z = gz[j], r = gr[j], hh = gh[j], d = dhm[j];
                    const T dph = d * (T(1) - z) * (T(1) - hh * hh);
                    const T dpz = d * (hprev[j] - hh) * z * (T(1) - z);
                    d_in[j] = dpz;
                    d_in[2 * U + j] = dph;
                    zm[j] = d * z;
                    if (CELL == kGRU) {
                        const T dpr = dph * e[j] * r * (T(1) - r);
                        d_in[U + j] = dpr;
                        d_rec[j] = dpz;
                        d_rec[U + j] = dpr;
                        d_rec[2 * U + j] = dph * r;
                    }
                }
            }
        }
        // dh_{t-1} (and dx_t) from this step's gradients; masked rows keep dh
        const T* dg_t = dg + (t * B + blk.begin) * GU;
        const T* dx_rows = nullptr;  // this step's dx, row stride dx_ld
        int64_t dx_ld = 0;
        if constexpr (is_gru(CELL)) {
            if (CELL == kGRUResetBefore) {  // d(r * h_{t-1}) = dph @ U_h^T, then dr
                wts.rt_h.multiply(M, dg_t + 2 * U, GU, drh, Up);
                for (int64_t m = 0; m < M; ++m) {
                    if (!valid(m, t)) continue;
                    const int64_t tb = t * B + blk.begin + m;
                    const T* r = gs + tb * Np + U;
                    const T* hprev = xh + tb * K + F;
                    const T* de = drh + m * Up;
                    T* d_in = dg + tb * GU;
                    T* zm = zdh + m * Up;
#pragma omp simd
                    for (int64_t j = 0; j < U; ++j) {
                        d_in[U + j] = de[j] * hprev[j] * r[j] * (T(1) - r[j]);
                        zm[j] += de[j] * r[j];
                    }
                }
                wts.rt_zr.multiply(M, dg_t, GU, acc, Up);  // [dz, dr] @ U_zr^T
            } else {
                wts.rt.multiply(M, dgr + (t * B + blk.begin) * GU, GU, acc, Up);
            }
            for (int64_t m = 0; m < M; ++m) {
                if (!valid(m, t)) continue;
                T* dhm = dh + m * Up;
                const T *r = acc + m * Up, *zm = zdh + m * Up;
#pragma omp simd
                for (int64_t j = 0; j < U; ++j) dhm[j] = r[j] + zm[j];
            }
            if (need_dx) {
                wts.kt.multiply(M, dg_t, GU, dxa, Fp);
                dx_rows = dxa, dx_ld = Fp;
            }
        } else {
            wts.wt.multiply(M, dg_t, GU, acc, Kp);  // [dx | dh] or dh
            const int64_t h_at = need_dx ? F : 0;
            for (int64_t m = 0; m < M; ++m)
                if (valid(m, t)) copy(dh + m * Up, acc + m * Kp + h_at, U);
            dx_rows = acc, dx_ld = Kp;
        }
        if (need_dx) {
            for (int64_t m = 0; m < M; ++m)
                copy(dx + (blk.begin + m) * a.x_batch_stride + t * a.x_time_stride, dx_rows + m * dx_ld, F);
        }
    }
    for (int64_t m = 0; m < M; ++m) {
        const int64_t b = blk.begin + m;
        std::memcpy(static_cast<T*>(a.d_h0) + b * U, dh + m * Up, U * sizeof(T));
        if (CELL == kLSTM) std::memcpy(static_cast<T*>(a.d_c0) + b * U, dc + m * Up, U * sizeof(T));
    }
}

template <typename T, int32_t CELL>
void forward_cell(const Args& a) {
    const std::vector<Block> parts = blocks(a);
    const int n = static_cast<int>(parts.size());
    Weights<T> wts(a);
    const auto largest = std::max_element(parts.begin(), parts.end(), [](Block x, Block y) {
        return x.end - x.begin < y.end - y.begin;
    });
    if (largest->end - largest->begin > kFewRows) wts.pack_all(a, row_counts(parts));  // B = 9, 2 threads: 4 + 5
#pragma omp parallel for num_threads(n) schedule(static, 1) if (n > 1)
    for (int i = 0; i < n; ++i) {
        if (a.xh != nullptr)
            forward_block<T, CELL, true>(a, wts, parts[i]);
        else
            forward_block<T, CELL, false>(a, wts, parts[i]);
    }
}

template <typename T, int32_t CELL>
void backward_cell(const Args& a) {
    const int64_t F = a.features, U = a.units, K = F + U, GU = gates_of(CELL) * U;
    const T* kernel = static_cast<const T*>(a.kernel);
    const T* recurrent = static_cast<const T*>(a.recurrent_kernel);
    const std::vector<Block> parts = blocks(a);
    const std::vector<int64_t> rows = row_counts(parts);
    Transposed<T> wts;
    if (is_gru(CELL)) {  // stored (K x 3U), multiplied transposed: sk = 1, sn = 3U
        if (CELL == kGRU) {
            wts.rt.prepare(a, recurrent, GU, U, 1, GU, rows);
        } else {
            wts.rt_zr.prepare(a, recurrent, 2 * U, U, 1, GU, rows);
            wts.rt_h.prepare(a, recurrent + 2 * U, U, U, 1, GU, rows);
        }
        if (a.d_inputs != nullptr) wts.kt.prepare(a, kernel, GU, F, 1, GU, rows);
    } else if (a.d_inputs != nullptr) {  // [kernel; recurrent_kernel]^T (G*U x K)
        Scratch<T> both(K * GU);
        std::memcpy(both.data(), kernel, F * GU * sizeof(T));
        std::memcpy(both.data() + F * GU, recurrent, U * GU * sizeof(T));
        wts.wt.prepare(a, both.data(), GU, K, 1, GU, rows);
    } else {  // recurrent_kernel^T alone
        wts.wt.prepare(a, recurrent, GU, U, 1, GU, rows);
    }
    const int n = static_cast<int>(parts.size());
#pragma omp parallel for num_threads(n) schedule(static, 1) if (n > 1)
    for (int i = 0; i < n; ++i) {
        backward_block<T, CELL>(a, parts[i], wts);
    }
}

enum Op { kForward, kBackward };

template <typename T, int32_t CELL>
void run_cell(const Args& a, Op op) {
    if (op == kForward) forward_cell<T, CELL>(a);
    if (op == kBackward) backward_cell<T, CELL>(a);
}

template <typename T>
int dispatch(const Args& a, Op op) {
    switch (a.cell) {
        case kSimpleTanh:
            return run_cell<T, kSimpleTanh>(a, op), 0;
        case kSimpleRelu:
            return run_cell<T, kSimpleRelu>(a, op), 0;
        case kLSTM:
            return run_cell<T, kLSTM>(a, op), 0;
        case kGRU:
            return run_cell<T, kGRU>(a, op), 0;
        case kGRUResetBefore:
            return run_cell<T, kGRUResetBefore>(a, op), 0;
        default:
            return 1;
    }
}

int run(const Args* a, Op op) {
    if (a->ids != nullptr && (op != kForward || a->features != 0)) return 3;
    if (a->last_only && (op != kForward || a->xh != nullptr)) return 3;  // backward reads every output
    if (a->dtype == 0) return dispatch<float>(*a, op);
    if (a->dtype == 1) return dispatch<double>(*a, op);
    return 2;
}

}  // namespace

extern "C" {

// Bumped whenever Args or the calls change, so Python never drives a library built from other source.
int rnnlab_abi_version() { return 12; }

// The name of each Cell value (null past the last), so that Python checks its copy of the enum.
const char* rnnlab_cell_name(int32_t cell) {
    switch (cell) {
        case kSimpleTanh:
            return "SIMPLE_TANH";
        case kSimpleRelu:
            return "SIMPLE_RELU";
        case kLSTM:
            return "LSTM";
        case kGRU:
            return "GRU";
        case kGRUResetBefore:
            return "GRU_RESET_BEFORE";
        default:
            return nullptr;
    }
}

// The row width of the gates buffer: G*U padded for the vectors (the GRU's candidate apart).
int64_t rnnlab_gate_width(const Args* a) {
    return a->dtype == 0 ? gate_width<float>(a->cell, a->units) : gate_width<double>(a->cell, a->units);
}

// Lets go the memory the calling thread kept from earlier calls (Scratch).
void rnnlab_release() { kept_memory.clear(); }

int rnnlab_forward(const Args* a) { return run(a, kForward); }

int rnnlab_backward(const Args* a) { return run(a, kBackward); }

}  // extern "C"
