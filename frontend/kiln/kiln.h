// The kiln C++ API: include this one header.
#pragma once
#include "kiln/creation.h"
#include "kiln/runtime_api.h"
#include "kiln/tensor.h"
