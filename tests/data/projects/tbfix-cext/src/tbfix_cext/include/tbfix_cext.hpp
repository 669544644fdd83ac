// Public header of tbfix_cext: packages that build against tbfix_cext include it from
// tbfix_cext.get_include().
#pragma once

#define TBFIX_CEXT_VERSION "1.0.0"

namespace tbfix_cext {

inline long long add(long long a, long long b) { return a + b; }

}  // namespace tbfix_cext
