#include "weight.hpp"

unsigned long long tbfix_part_c(unsigned long long x) { return tbfix_weight::burn<3>(x); }
