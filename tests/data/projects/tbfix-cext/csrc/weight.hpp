// Template-heavy busy work that makes each source file take a chosen time to compile.
// Every chunk is its own function (noinline) so the optimiser's cost stays linear in the
// number of chunks instead of growing with one huge function.
#pragma once

#include <cstddef>
#include <utility>

namespace tbfix_weight {

template <std::size_t I, unsigned Seed>
struct Mix {
  static unsigned long long apply(unsigned long long x) {
    return (x ^ (x >> (I % 31 + 1))) * (0x9E3779B97F4A7C15ULL + I + Seed);
  }
};

template <unsigned Seed, std::size_t... I>
__attribute__((noinline)) unsigned long long chunk(unsigned long long x,
                                                   std::index_sequence<I...>) {
  ((x = Mix<I, Seed>::apply(x)), ...);
  return x;
}

template <unsigned Seed, std::size_t... C>
unsigned long long chunks(unsigned long long x, std::index_sequence<C...>) {
  ((x = chunk<Seed * 4096u + C>(x, std::make_index_sequence<200>{})), ...);
  return x;
}

// Runs TBFIX_WEIGHT chunks seeded by Seed; distinct seeds give distinct instantiations.
template <unsigned Seed>
unsigned long long burn(unsigned long long x) {
  return chunks<Seed>(x, std::make_index_sequence<TBFIX_WEIGHT>{});
}

}  // namespace tbfix_weight

unsigned long long tbfix_part_a(unsigned long long x);
unsigned long long tbfix_part_b(unsigned long long x);
unsigned long long tbfix_part_c(unsigned long long x);
unsigned long long tbfix_part_d(unsigned long long x);
unsigned long long tbfix_part_e(unsigned long long x);
