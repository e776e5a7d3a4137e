// Runtime controls and counters visible to users: kiln::stats(), kiln::set_num_threads(),
// kiln::options() (fusion on/off, dumps).
#pragma once
#include "runtime/config.h"
#include "runtime/stats.h"
#include "runtime/thread_pool.h"
