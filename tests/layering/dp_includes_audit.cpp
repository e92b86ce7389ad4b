// Compiled against the dp module's include view by tests/CMakeLists.txt: dp sits below audit, so
// this include must fail to resolve. If it ever compiles, the layering is no longer enforced.
#include "dpforge/audit/white_box.h"
