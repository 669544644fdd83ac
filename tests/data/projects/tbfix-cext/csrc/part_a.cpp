#include "weight.hpp"

unsigned long long tbfix_part_a(unsigned long long x) { return tbfix_weight::burn<1>(x); }
