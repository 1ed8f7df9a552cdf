// Boost.Process v2 compiled into this plugin once (BOOST_PROCESS_V2_SEPARATE_COMPILATION): in 1.81,
// process_environment does not link header-only.
#include <boost/process/v2/src.hpp>
