// Runtime controls and counters visible to users: kiln::stats(), kiln::set_num_threads().
#pragma once
#include "runtime/stats.h"
#include "runtime/thread_pool.h"
