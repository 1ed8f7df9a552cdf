// corral SDK version. The top-level CMakeLists.txt reads the project version from this line.
#pragma once

#define CORRAL_SDK_VERSION "0.4.0"
