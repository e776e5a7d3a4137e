// Runtime controls and counters visible to users: kiln::stats(), kiln::set_num_threads(),
// kiln::options() (fusion on/off, dumps).
#pragma once
#include "codegen/host/thread_pool.h"
#include "runtime/config.h"
#include "runtime/stats.h"
