#include "weight.hpp"

unsigned long long tbfix_part_b(unsigned long long x) { return tbfix_weight::burn<2>(x); }
