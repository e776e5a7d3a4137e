// The kiln C++ API: include this one header.
#pragma once
#include "kiln/creation.h"
#include "kiln/data.h"
#include "kiln/debug.h"
#include "kiln/nn/functional.h"
#include "kiln/nn/init.h"
#include "kiln/nn/layers.h"
#include "kiln/nn/module.h"
#include "kiln/optim.h"
#include "kiln/runtime_api.h"
#include "kiln/tensor.h"
