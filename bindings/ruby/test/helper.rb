# frozen_string_literal: true
# Shared by the Ruby tests: run as `ruby -Ilib -Itest test/test_x.rb` with
# RINGKIT_LIB naming the library (meson sets it); RINGKIT_BACKEND=fallback
# runs them on the fallback backend.
require "test/unit"
require "ringkit"
require "timeout"

module RingkitTest
  SRC = ENV["RINGKIT_SRC"] || File.expand_path("../../..", __dir__)

  # A collection (and a compaction where Ruby has it) between test steps:
  # memory the kernel writes must not be Ruby memory that moves or is freed.
  def gc_step
    GC.start(full_mark: true, immediate_sweep: true)
    GC.compact if GC.respond_to?(:compact)
  end

  def want_backend
    ENV["RINGKIT_BACKEND"] == "fallback" ? Ringkit::C::RK_BACKEND_FALLBACK : nil
  end

  # Runs the block on a new thread with a fresh Ringkit::Scheduler, whose
  # close (at the thread's end) runs every fiber to completion. Returns the
  # scheduler (closed). Fails rather than hangs after `limit` seconds.
  def scheduled(limit: 30)
    sched = nil
    th = Thread.new do
      sched = Ringkit::Scheduler.new
      Fiber.set_scheduler(sched)
      yield sched
    end
    assert_not_nil th.join(limit), "the scheduler did not finish within #{limit}s"
    th.value
    assert_true sched.closed?
    sched
  end
end
