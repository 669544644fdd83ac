#include "weight.hpp"

unsigned long long tbfix_part_e(unsigned long long x) { return tbfix_weight::burn<5>(x); }
