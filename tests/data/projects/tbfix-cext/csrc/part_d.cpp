#include "weight.hpp"

unsigned long long tbfix_part_d(unsigned long long x) { return tbfix_weight::burn<4>(x); }
