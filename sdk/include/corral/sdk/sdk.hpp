// corral SDK: everything a plugin author includes.
#pragma once

#include <corral/sdk/plugin_abi.h>
#include <corral/sdk/error.hpp>
#include <corral/sdk/host.hpp>
#include <corral/sdk/json.hpp>
#include <corral/sdk/plugin.hpp>
#include <corral/sdk/probe.hpp>
#include <corral/sdk/runner.hpp>
#include <corral/sdk/types.hpp>
#include <corral/sdk/version.hpp>
