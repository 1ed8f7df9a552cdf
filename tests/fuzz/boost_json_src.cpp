// Boost.JSON compiled into the fuzz targets (the fuzz build links no Boost libraries).
#include <boost/json/src.hpp>
