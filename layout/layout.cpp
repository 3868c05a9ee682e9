#include "layout/layout.h"

namespace pstack {

const char *schemeName(Scheme s) {
  switch (s) {
  case Scheme::Kernel: return "kernel";
  case Scheme::PerSubprog: return "per-subprog";
  case Scheme::PerProg: return "per-prog";
  case Scheme::Planned: return "planned";
  case Scheme::StackSwitch: return "stack-switch";
  }
  return "?";
}

std::optional<Scheme> schemeFromName(const std::string &s) {
  for (Scheme x : {Scheme::Kernel, Scheme::PerSubprog, Scheme::PerProg, Scheme::Planned,
                   Scheme::StackSwitch})
    if (s == schemeName(x))
      return x;
  return std::nullopt;
}

const char *placeName(FramePlan::Place p) {
  switch (p) {
  case FramePlan::Place::KernelStack: return "kernel_stack";
  case FramePlan::Place::OwnBuffer: return "own_buffer";
  case FramePlan::Place::ProgramBuffer: return "program_buffer";
  case FramePlan::Place::ProgramBufferAt: return "program_buffer_at";
  }
  return "?";
}

} // namespace pstack
