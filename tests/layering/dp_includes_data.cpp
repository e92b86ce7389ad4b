// The control for dp_includes_audit.cpp: dp builds on data, so this include resolves in dp's view.
#include "dpforge/data/poisson_sampler.h"
