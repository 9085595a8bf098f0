/* SPDX-License-Identifier: MIT */
#pragma once

#include <cjson/cJSON.h>

#include "common/macro.h"

/* _cleanup_(cJSON_Deletep) for cJSON trees owned by a scope. */
DEFINE_TRIVIAL_CLEANUP_FUNC(cJSON *, cJSON_Delete);
