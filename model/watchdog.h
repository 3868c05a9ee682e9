// Private to model/: a thread that interrupts a Z3 context when the
// program's Deadline passes. The solver's own `timeout` parameter covers
// check() only; Z3 4.8.12 also spends unbounded time in add()/push() on
// large formulas (the bounded engine's size cap keeps those small, and its
// encoding loop polls the deadline between terms — this is the backstop for
// what happens inside a single Z3 call). An interrupted call throws
// z3::exception ("canceled"), which the engines report as out of time.
#pragma once

#include "model/engine.h"

#include <z3++.h>

#include <condition_variable>
#include <mutex>
#include <thread>

namespace pstack::detail {

class SolverWatchdog {
public:
  // Declare it after the context it guards: it must stop first.
  SolverWatchdog(z3::context &ctx, const Deadline &dl)
      : thread_([this, &ctx, end = dl.end()] {
          std::unique_lock lock(mutex_);
          if (!wake_.wait_until(lock, end, [this] { return stop_; }))
            ctx.interrupt();
        }) {}
  ~SolverWatchdog() {
    {
      std::lock_guard lock(mutex_);
      stop_ = true;
    }
    wake_.notify_one();
    thread_.join();
  }
  SolverWatchdog(const SolverWatchdog &) = delete;
  SolverWatchdog &operator=(const SolverWatchdog &) = delete;

private:
  std::mutex mutex_;
  std::condition_variable wake_;
  bool stop_ = false;
  std::thread thread_; // last: starts once the rest exists
};

} // namespace pstack::detail
