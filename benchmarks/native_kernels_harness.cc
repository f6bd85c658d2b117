// Standalone timing and correctness harness for the native rotor-layer kernels
// (qdiff/circuits/native/rotor_kernels.cc), without Python or XLA in the loop.
//
// Build (same flags as qdiff/circuits/native/__init__.py `_FLAGS`, as an executable; -w silences
// warnings of the FFI headers):
//   FLAGS="-O3 -march=native -std=c++17 -fno-math-errno -fno-trapping-math -fno-signed-zeros \
//          -fassociative-math -ffp-contract=fast -w -I$(python -c 'import jax; print(jax.ffi.include_dir())')"
//   g++ $FLAGS benchmarks/native_kernels_harness.cc -o /tmp/kernels_harness
//   (add -DKERNELS='"/path/to/other/rotor_kernels.cc"' to time another version of the kernels;
//    build with -march=x86-64 or -march=x86-64-v3 instead of -march=native to check the
//    portable / AVX2 code paths)
// Run:
//   /tmp/kernels_harness check                 compare with a plain reference, many layouts
//   /tmp/kernels_harness time 10 14 16 20      per-layer time of all n gates (min of repeats,
//                                              process CPU time), layout defaults 12 / 4 (the library's)
//   /tmp/kernels_harness gates 10              per-gate ns per amplitude at n=10
//   /tmp/kernels_harness range 20 12 20        layer of the gates on bits 12..19 at n=20
//   optional env: BLOCK_BITS, TILE_GATES (layout for `time`/`gates`)
// A/B comparison of two versions of the kernels in one process (on a shared machine, timings of
// separate runs drift by tens of percent; alternating the two versions round by round does not):
//   g++ $FLAGS -c -DAB_PART=va -DKERNELS='"/tmp/old_rotor_kernels.cc"' -Dqdiff_rotor_apply=va_apply \
//       -Dqdiff_rotor_back=va_back -Dqdiff_permute=va_permute benchmarks/native_kernels_harness.cc -o /tmp/a.o
//   g++ $FLAGS -c -DAB_PART=vb -Dqdiff_rotor_apply=vb_apply -Dqdiff_rotor_back=vb_back \
//       -Dqdiff_permute=vb_permute benchmarks/native_kernels_harness.cc -o /tmp/b.o
//   g++ $FLAGS -DAB_MAIN benchmarks/native_kernels_harness.cc /tmp/a.o /tmp/b.o -o /tmp/kernels_ab
//   /tmp/kernels_ab ROUNDS BLOCK_BITS_A TILE_GATES_A BLOCK_BITS_B TILE_GATES_B N...
//   (per n: the minimum over ROUNDS of each version's time per layer, and the ratios B/A)
#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <cstdlib>

#ifdef AB_MAIN
namespace va {
double run_layer(int64_t n, int back, int reps, int64_t block_bits, int64_t tile_gates);
}
namespace vb {
double run_layer(int64_t n, int back, int reps, int64_t block_bits, int64_t tile_gates);
}

int main(int argc, char** argv) {
  if (argc < 7) {
    std::fprintf(stderr, "usage: %s ROUNDS BB_A TG_A BB_B TG_B N...\n", argv[0]);
    return 2;
  }
  const int rounds = std::atoi(argv[1]);
  const int64_t bba = std::atoll(argv[2]), tga = std::atoll(argv[3]), bbb = std::atoll(argv[4]),
                tgb = std::atoll(argv[5]);
  for (int i = 6; i < argc; ++i) {
    const int64_t n = std::atoll(argv[i]);
    const int reps = static_cast<int>(std::max<int64_t>(1, (int64_t(1) << 21) / (n << n)));
    double best[2][2] = {{1e30, 1e30}, {1e30, 1e30}};
    for (int r = 0; r < rounds; ++r)
      for (int back = 0; back < 2; ++back) {
        best[0][back] = std::min(best[0][back], va::run_layer(n, back, reps, bba, tga));
        best[1][back] = std::min(best[1][back], vb::run_layer(n, back, reps, bbb, tgb));
      }
    std::printf("n=%2lld  A: apply %10.2f us  back %10.2f us   B: apply %10.2f us  back %10.2f us   B/A %.3f %.3f\n",
                (long long)n, best[0][0] * 1e6, best[0][1] * 1e6, best[1][0] * 1e6, best[1][1] * 1e6,
                best[1][0] / best[0][0], best[1][1] / best[0][1]);
  }
  return 0;
}
#else
#ifndef KERNELS
#define KERNELS "../qdiff/circuits/native/rotor_kernels.cc"
#endif
#include KERNELS

#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <ctime>
#include <random>
#include <string>

namespace {

using cd = std::complex<double>;

double cpu_seconds() {
  timespec t;
  clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &t);
  return t.tv_sec + 1e-9 * t.tv_nsec;
}

std::vector<cd> random_unitaries(std::mt19937_64& rng, int64_t m) {
  std::normal_distribution<double> nd;
  std::vector<cd> us(4 * m);
  for (int64_t g = 0; g < m; ++g) {
    // Gram-Schmidt of a random complex 2x2 matrix (columns).
    cd a(nd(rng), nd(rng)), b(nd(rng), nd(rng)), c(nd(rng), nd(rng)), d(nd(rng), nd(rng));
    double na = std::sqrt(std::norm(a) + std::norm(c));
    a /= na, c /= na;
    cd proj = std::conj(a) * b + std::conj(c) * d;
    b -= proj * a, d -= proj * c;
    double nb = std::sqrt(std::norm(b) + std::norm(d));
    b /= nb, d /= nb;
    us[4 * g + 0] = a, us[4 * g + 1] = b, us[4 * g + 2] = c, us[4 * g + 3] = d;
  }
  return us;
}

std::vector<cd> random_state(std::mt19937_64& rng, int64_t n) {
  std::normal_distribution<double> nd;
  std::vector<cd> s(int64_t(1) << n);
  for (auto& x : s) x = cd(nd(rng), nd(rng));
  return s;
}

void ref_apply(std::vector<cd>& s, int64_t b, const cd* u) {
  const int64_t st = int64_t(1) << b;
  for (int64_t i = 0; i < static_cast<int64_t>(s.size()); ++i)
    if (!(i & st)) {
      cd a = s[i], c = s[i + st];
      s[i] = u[0] * a + u[1] * c;
      s[i + st] = u[2] * a + u[3] * c;
    }
}

// d0, d1, Re off, Im off of one gate on bit b (state before the undo).
void ref_trans(const std::vector<cd>& p, const std::vector<cd>& l, int64_t b, double* t) {
  const int64_t st = int64_t(1) << b;
  cd off = 0;
  double d0 = 0, d1 = 0;
  for (int64_t i = 0; i < static_cast<int64_t>(p.size()); ++i)
    if (!(i & st)) {
      d0 += std::imag(std::conj(l[i]) * p[i]);
      d1 += std::imag(std::conj(l[i + st]) * p[i + st]);
      off += std::conj(l[i]) * p[i + st] - l[i + st] * std::conj(p[i]);
    }
  t[0] = d0, t[1] = d1, t[2] = off.real(), t[3] = off.imag();
}

// load(u, bit) of these kernels, or load(u) of versions before it (for A/B comparisons).
template <class U>
auto load_any(const U* u, int64_t bit, int) -> decltype(load(u, bit)) {
  return load(u, bit);
}
template <class U>
auto load_any(const U* u, int64_t, long) -> decltype(load(u)) {
  return load(u);
}

std::vector<Mat> mats_of(const std::vector<cd>& us, const std::vector<int64_t>& bits) {
  std::vector<Mat> m(us.size() / 4);
  for (size_t g = 0; g < m.size(); ++g) m[g] = load_any(us.data() + 4 * g, bits[g], 0);
  return m;
}

double max_diff(const std::vector<cd>& a, const std::vector<cd>& b) {
  double e = 0;
  for (size_t i = 0; i < a.size(); ++i) e = std::max(e, std::abs(a[i] - b[i]));
  return e;
}

int check() {
  std::mt19937_64 rng(7);
  double worst_apply = 0, worst_back = 0, worst_trans = 0;
  int cases = 0;
  for (int64_t n = 1; n <= 14; ++n)
    for (int64_t block_bits : {1, 2, 3, 4, 5, 12})
      for (int64_t tile_gates : {1, 2, 3, 8})
        for (int variant = 0; variant < 3; ++variant) {
          if (n > 11 && variant > 0) continue;
          std::vector<int64_t> bits;
          for (int64_t b = 0; b < n; ++b)
            if (variant != 2 || (rng() & 1)) bits.push_back(b);
          if (bits.empty()) bits.push_back(n - 1);
          if (variant >= 1) std::shuffle(bits.begin(), bits.end(), rng);
          const int64_t m = bits.size();
          ffi::Span<const int64_t> sb(bits.data(), bits.size());
          auto us = random_unitaries(rng, m);
          std::vector<cd> vs(4 * m);
          for (int64_t g = 0; g < m; ++g) {
            vs[4 * g + 0] = std::conj(us[4 * g + 0]), vs[4 * g + 1] = std::conj(us[4 * g + 2]);
            vs[4 * g + 2] = std::conj(us[4 * g + 1]), vs[4 * g + 3] = std::conj(us[4 * g + 3]);
          }
          const Plan pl = plan(sb, block_bits, tile_gates);
          // forward
          auto s = random_state(rng, n), r = s;
          layer_apply(reinterpret_cast<double*>(s.data()), n, sb, pl, mats_of(us, bits));
          for (int64_t g = 0; g < m; ++g) ref_apply(r, bits[g], us.data() + 4 * g);
          const double scale = std::sqrt(double(s.size()));
          worst_apply = std::max(worst_apply, max_diff(s, r));
          // backward
          auto p = random_state(rng, n), l = random_state(rng, n), rp = p, rl = l;
          std::vector<double> acc(4 * m, 0.0), ref(4 * m);
          for (int64_t g = 0; g < m; ++g) ref_trans(rp, rl, bits[g], ref.data() + 4 * g);
          for (int64_t g = 0; g < m; ++g) ref_apply(rp, bits[g], vs.data() + 4 * g), ref_apply(rl, bits[g], vs.data() + 4 * g);
          layer_back(reinterpret_cast<double*>(p.data()), reinterpret_cast<double*>(l.data()), n, sb, pl,
                     mats_of(vs, bits), acc.data());
          worst_back = std::max(worst_back, std::max(max_diff(p, rp), max_diff(l, rl)));
          for (int64_t i = 0; i < 4 * m; ++i)
            worst_trans = std::max(worst_trans, std::abs(acc[i] - ref[i]) / scale);
          ++cases;
        }
  std::printf("%d cases: max |apply - ref| %.3g, max |undo - ref| %.3g, max |trans - ref|/sqrt(N) %.3g\n",
              cases, worst_apply, worst_back, worst_trans);
  const bool ok = worst_apply < 1e-12 && worst_back < 1e-12 && worst_trans < 1e-12;
  std::printf(ok ? "OK\n" : "FAILED\n");
  return ok ? 0 : 1;
}

int64_t env_int(const char* name, int64_t dflt) {
  const char* v = std::getenv(name);
  return v ? std::atoll(v) : dflt;
}

// Minimum over repeats of the time per call of fn (process CPU time); a repeat does ~2**22
// gate-amplitude updates (7 repeats, 15 where that is one or two calls).
template <class F>
double time_min(F&& fn, int64_t work) {
  int64_t reps = std::max<int64_t>(1, (int64_t(1) << 22) / std::max<int64_t>(1, work));
  double best = 1e30;
  const int repeats = reps > 2 ? 7 : 15;
  for (int rep = 0; rep < repeats; ++rep) {
    const double t0 = cpu_seconds();
    for (int64_t i = 0; i < reps; ++i) fn();
    best = std::min(best, (cpu_seconds() - t0) / reps);
  }
  return best;
}

// Layers on bits [lo, hi) (default all n bits) of n-qubit states.
void time_layers(const std::vector<int64_t>& ns, int64_t lo = 0, int64_t hi = -1) {
  const int64_t block_bits = env_int("BLOCK_BITS", 12), tile_gates = env_int("TILE_GATES", 4);
  std::mt19937_64 rng(1);
  for (int64_t n : ns) {
    std::vector<int64_t> bits;
    for (int64_t b = (hi < 0 ? n : hi) - 1; b >= lo; --b) bits.push_back(b);  // qubit order
    ffi::Span<const int64_t> sb(bits.data(), bits.size());
    const Plan pl = plan(sb, block_bits, tile_gates);
    const auto mats = mats_of(random_unitaries(rng, bits.size()), bits);
    auto p = random_state(rng, n), l = random_state(rng, n);
    std::vector<double> acc(4 * n);
    const int64_t work = static_cast<int64_t>(bits.size()) << n;
    const double ta = time_min([&] { layer_apply(reinterpret_cast<double*>(p.data()), n, sb, pl, mats); }, work);
    const double tb = time_min([&] {
      layer_back(reinterpret_cast<double*>(p.data()), reinterpret_cast<double*>(l.data()), n, sb, pl, mats, acc.data());
    }, work);
    // What every call of the FFI handlers adds: the plan and the gates' coefficient vectors.
    const auto us = random_unitaries(rng, bits.size());
    const double tset = time_min([&] {
      const Plan q = plan(sb, block_bits, tile_gates);
      const auto mq = mats_of(us, bits);
      asm volatile("" : : "r"(&q), "r"(mq.data()) : "memory");
    }, 1 << 16);
    std::printf("n=%2lld layer (%lld gates, block_bits=%lld tile_gates=%lld): apply %10.2f us  back %10.2f us"
                "  (per gate and amplitude: %.3f / %.3f ns; per-call setup %.3f us)\n",
                (long long)n, (long long)bits.size(), (long long)block_bits, (long long)tile_gates, ta * 1e6,
                tb * 1e6, ta * 1e9 / work, tb * 1e9 / work, tset * 1e6);
  }
}

void time_gates(int64_t n) {
  const int64_t block_bits = env_int("BLOCK_BITS", 12), tile_gates = env_int("TILE_GATES", 4);
  std::mt19937_64 rng(2);
  auto p = random_state(rng, n), l = random_state(rng, n);
  for (int64_t b = 0; b < n; ++b) {
    std::vector<int64_t> bits{b};
    ffi::Span<const int64_t> sb(bits.data(), 1);
    const Plan pl = plan(sb, block_bits, tile_gates);
    const auto mats = mats_of(random_unitaries(rng, 1), bits);
    std::vector<double> acc(4);
    const int64_t work = int64_t(1) << n;
    const double ta = time_min([&] { layer_apply(reinterpret_cast<double*>(p.data()), n, sb, pl, mats); }, work);
    const double tb = time_min([&] {
      layer_back(reinterpret_cast<double*>(p.data()), reinterpret_cast<double*>(l.data()), n, sb, pl, mats, acc.data());
    }, work);
    std::printf("n=%lld bit %2lld: apply %.3f ns/amp  back %.3f ns/amp\n", (long long)n, (long long)b,
                ta * 1e9 / work, tb * 1e9 / work);
  }
}

}  // namespace

#ifdef AB_PART
// One side of an A/B comparison: time per call of a layer of all n gates (apply, or back when
// back != 0), over reps calls, process CPU time.
namespace AB_PART {
double run_layer(int64_t n, int back, int reps, int64_t block_bits, int64_t tile_gates) {
  static std::vector<cd> p, l;
  if (static_cast<int64_t>(p.size()) != (int64_t(1) << n)) {
    std::mt19937_64 rng(3);
    p = random_state(rng, n), l = random_state(rng, n);
  }
  std::mt19937_64 rng(4);
  std::vector<int64_t> bits;
  for (int64_t b = n - 1; b >= 0; --b) bits.push_back(b);
  ffi::Span<const int64_t> sb(bits.data(), bits.size());
  const auto mats = mats_of(random_unitaries(rng, n), bits);
  const Plan pl = plan(sb, block_bits, tile_gates);
  std::vector<double> acc(4 * n);
  const double t0 = cpu_seconds();
  for (int r = 0; r < reps; ++r) {
    if (back)
      layer_back(reinterpret_cast<double*>(p.data()), reinterpret_cast<double*>(l.data()), n, sb, pl, mats,
                 acc.data());
    else
      layer_apply(reinterpret_cast<double*>(p.data()), n, sb, pl, mats);
  }
  return (cpu_seconds() - t0) / reps;
}
}  // namespace AB_PART
#else
int main(int argc, char** argv) {
  const std::string mode = argc > 1 ? argv[1] : "check";
  if (mode == "check") return check();
  std::vector<int64_t> ns;
  for (int i = 2; i < argc; ++i) ns.push_back(std::atoll(argv[i]));
  if (mode == "time") time_layers(ns.empty() ? std::vector<int64_t>{10, 14, 16, 20} : ns);
  else if (mode == "gates") time_gates(ns.empty() ? 10 : ns[0]);
  else if (mode == "range" && ns.size() == 3) time_layers({ns[0]}, ns[1], ns[2]);
  else {
    std::fprintf(stderr, "usage: %s check | time N... | gates N | range N LO HI\n", argv[0]);
    return 2;
  }
  return 0;
}
#endif  // AB_PART
#endif  // AB_MAIN
