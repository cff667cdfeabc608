# frozen_string_literal: true
# Ringkit::Scheduler under fibers: file reads, pipe and TCP echo over
# loopback, sleep ordering, Mutex/Queue/ConditionVariable hand-off between
# fibers and from another thread, Timeout, a fiber raised into while its read
# is in flight, processes, name resolution, close. A GC (and compaction)
# runs between the steps, so memory handed to the kernel that the binding
# forgot to hold, or that moved, shows up as wrong data or a crash.
require "helper"
require "socket"
require "tempfile"

class TestScheduler < Test::Unit::TestCase
  include RingkitTest

  def test_backend
    sched = scheduled { |s| assert_equal want_backend, s.ring.backend if want_backend }
    assert_true sched.ring.closed?
  end

  def test_many_fibers_read_files
    files = 20.times.map do |i|
      Tempfile.create("rk").tap { |f| f.write("file #{i} " * (100 + i * 50)); f.close }
    end
    got = {}
    scheduled do
      files.each_with_index do |f, i|
        Fiber.schedule do
          gc_step
          File.open(f.path) { |io| got[i] = io.read }
          gc_step
        end
      end
    end
    files.each_with_index { |f, i| assert_equal File.binread(f.path), got[i], "file #{i}" }
  ensure
    files&.each { |f| File.unlink(f.path) }
  end

  def test_io_read_is_a_read_op_into_held_memory
    r, w = IO.pipe
    got = nil
    sizes = nil
    sched = scheduled do |s|
      Fiber.schedule { got = r.readpartial(64) }
      Fiber.schedule do
        # the read is in flight as a read op (not a poll): the ring holds
        # its 64-byte staging memory by op id, beside the wakeup's 8 bytes
        sizes = s.ring.held.values.map(&:size).sort
        gc_step
        w.write("ping")
      end
    end
    assert_equal [8, 64], sizes
    assert_equal "ping", got
    assert_equal 0, sched.orphans
  ensure
    [r, w].each { |io| io&.close }
  end

  def test_pipe_echo_many_fibers
    n = 30
    results = Array.new(n)
    scheduled do
      n.times do |i|
        Fiber.schedule do
          r, w = IO.pipe
          r2, w2 = IO.pipe
          Fiber.schedule do # the echo
            while (chunk = r.readpartial(4096) rescue nil)
              w2.write(chunk)
              gc_step if i.zero?
            end
            w2.close
          end
          msg = "message #{i} " * (i + 1)
          w.write(msg)
          w.close
          results[i] = r2.read
          [r, r2].each(&:close)
        end
      end
    end
    n.times { |i| assert_equal "message #{i} " * (i + 1), results[i] }
  end

  def test_tcp_echo_over_loopback
    server = TCPServer.new("127.0.0.1", 0)
    port = server.addr[1]
    replies = []
    scheduled do
      Fiber.schedule do
        3.times do
          client = server.accept
          Fiber.schedule do
            while (line = client.gets)
              client.write(line.upcase)
            end
            client.close
          end
        end
      end
      3.times do |i|
        Fiber.schedule do
          sock = TCPSocket.new("127.0.0.1", port)
          gc_step
          sock.write("hello #{i}\n")
          replies << sock.gets
          sock.write("bye #{i}\n")
          replies << sock.gets
          sock.close
        end
      end
    end
    assert_equal 6, replies.size
    3.times { |i| assert_include replies, "HELLO #{i}\n"; assert_include replies, "BYE #{i}\n" }
  ensure
    server&.close
  end

  def test_sleeps_end_in_order
    order = []
    t0 = Process.clock_gettime(Process::CLOCK_MONOTONIC)
    scheduled do
      [0.06, 0.02, 0.04, 0.0, 0.08].each do |d|
        Fiber.schedule do
          sleep d
          order << d
          gc_step
        end
      end
    end
    elapsed = Process.clock_gettime(Process::CLOCK_MONOTONIC) - t0
    assert_equal [0.0, 0.02, 0.04, 0.06, 0.08], order
    assert_operator elapsed, :>=, 0.08
    assert_operator elapsed, :<, 5 # concurrent, not 0.2 s in a row (and a loaded machine)
  end

  def test_mutex_and_queue_hand_off_between_fibers
    log = []
    scheduled do
      m = Mutex.new
      q = Queue.new
      Fiber.schedule { m.synchronize { log << :a_in; sleep 0.02; gc_step; log << :a_out } }
      Fiber.schedule { m.synchronize { log << :b_in } }
      Fiber.schedule { 3.times { log << [:got, q.pop] } }
      Fiber.schedule { 3.times { |i| q << i; sleep 0.005 } }
    end
    assert_equal %i[a_in a_out b_in], log.grep(Symbol)
    assert_equal [[:got, 0], [:got, 1], [:got, 2]], log.grep(Array)
  end

  def test_queue_and_mutex_from_another_thread_wake_the_scheduler
    got = []
    scheduled do
      q = Queue.new
      m = Mutex.new
      cv = ConditionVariable.new
      ready = false
      m.lock # held by the scheduler thread's main fiber
      Fiber.schedule { got << [:q, q.pop] }
      Fiber.schedule do
        m2 = Mutex.new
        m2.synchronize do
          cv.wait(m2, 5) until ready
          got << :cv
        end
      end
      Thread.new do
        sleep 0.05 # the scheduler is asleep in rk_reap by now
        q << :from_thread
        gc_step
        ready = true
        cv.broadcast
      end
      m.unlock
      other = Thread.new { m.synchronize { sleep 0.03 } }
      sleep 0.01 until m.locked?
      Fiber.schedule { m.synchronize { got << :mutex } } # waits for the other thread's unlock
      other.join # a thread join from the main fiber: blocking
    end
    assert_equal [[:q, :from_thread], :cv, :mutex].sort_by(&:to_s), got.sort_by(&:to_s)
  end

  def test_block_times_out
    res = nil
    scheduled do
      Fiber.schedule do
        q = Queue.new
        t0 = Process.clock_gettime(Process::CLOCK_MONOTONIC)
        res = [q.pop(timeout: 0.03), Process.clock_gettime(Process::CLOCK_MONOTONIC) - t0] rescue nil
        # Queue#pop(timeout:) is Ruby 3.2; in 3.1 a ConditionVariable's wait bound:
        if res.nil?
          m = Mutex.new
          cv = ConditionVariable.new
          m.synchronize { cv.wait(m, 0.03) }
          res = [:cv, Process.clock_gettime(Process::CLOCK_MONOTONIC) - t0]
        end
      end
    end
    assert_operator res[1], :>=, 0.03
    assert_operator res[1], :<, 5
  end

  def test_timeout_timeout_raises_into_a_blocked_read_and_cancels_it
    r, w = IO.pipe
    outcome = nil
    sched = scheduled do |s|
      Fiber.schedule do
        Timeout.timeout(0.03) { r.read(1) }
        outcome = :read
      rescue Timeout::Error
        # the read's op was cancelled; its staging memory is still held by
        # the ring until the cancellation's final completion comes in
        outcome = [:timeout, s.orphans, s.ring.held.size]
        gc_step
      end
      Fiber.schedule { sleep 0.01; gc_step }
    end
    assert_equal :timeout, outcome[0]
    assert_equal 1, outcome[1]
    assert_operator outcome[2], :>=, 2 # the read's buffer and the wakeup's
    assert_equal 0, sched.orphans
    assert_equal [-Ringkit::C::ECANCELED], sched.orphan_results
    # the pipe is still good: the cancelled read took nothing
    w.write("x")
    assert_equal "x", r.read_nonblock(1)
  ensure
    [r, w].each { |io| io&.close }
  end

  def test_fiber_raise_while_read_in_flight
    r, w = IO.pipe
    outcome = []
    sched = scheduled do |s|
      reader = Fiber.schedule do
        r.readpartial(10)
      rescue RuntimeError => e
        outcome << e.message << s.orphans
      end
      Fiber.schedule do
        sleep 0.01
        held = s.ring.held.size
        reader.raise(RuntimeError, "stop")
        outcome << held
        gc_step
        w.write("after") # a later reader gets everything
        Fiber.schedule { outcome << r.readpartial(10) }
      end
    end
    assert_equal ["stop", 1], outcome[0, 2]
    assert_include outcome, "after"
    assert_equal [-Ringkit::C::ECANCELED], sched.orphan_results
  ensure
    [r, w].each { |io| io&.close }
  end

  def test_timeout_that_fires_in_the_batch_of_a_sleep_before_it
    # The sleep ends just before the timer, both while another fiber keeps
    # the loop busy, so one reap brings both: the fiber is resumed from the
    # sleep and waits for something else, and the timer must raise into that.
    outcome = nil
    scheduled(limit: 20) do
      Fiber.schedule do
        Timeout.timeout(0.05) do
          sleep 0.045
          sleep 5
        end
        outcome = :no_timeout
      rescue Timeout::Error
        outcome = :timeout
      end
      Fiber.schedule do
        sleep 0.02
        t0 = Process.clock_gettime(Process::CLOCK_MONOTONIC)
        nil while Process.clock_gettime(Process::CLOCK_MONOTONIC) - t0 < 0.06 # no yield
      end
    end
    assert_equal :timeout, outcome
  end

  def test_timeout_that_does_not_fire
    value = nil
    scheduled do
      Fiber.schedule { value = Timeout.timeout(5) { sleep 0.01; :done } }
    end
    assert_equal :done, value
  end

  def test_process_wait
    statuses = []
    scheduled do
      Fiber.schedule { pid = spawn("sh", "-c", "exit 3"); statuses << Process.wait2(pid)[1].exitstatus }
      Fiber.schedule { pid = spawn("sh", "-c", "sleep 0.02; exit 4"); _, st = Process.wait2(pid); statuses << st.exitstatus }
    end
    scheduled do # any child: waitpid in a thread, joined through block/unblock
      Fiber.schedule { spawn("true"); statuses << (Process.wait2(-1)[1].success? ? :any : :bad) }
    end
    assert_equal [3, 4, :any].sort_by(&:to_s), statuses.sort_by(&:to_s)
  end

  def test_address_resolve
    addrs = nil
    bad = nil
    scheduled do
      Fiber.schedule do
        addrs = Addrinfo.getaddrinfo("localhost", 80, nil, :STREAM).map(&:ip_address)
        begin
          Addrinfo.getaddrinfo("no-such-host.invalid", 80)
        rescue SocketError => e
          bad = e
        end
      end
    end
    assert_true addrs.any? { |a| %w[127.0.0.1 ::1].include?(a) }, addrs.inspect
    assert_kind_of SocketError, bad
  end

  def test_close_runs_the_remaining_fibers
    done = []
    sched = nil
    Thread.new do
      sched = Ringkit::Scheduler.new # a scheduler belongs to the thread that makes it
      Fiber.set_scheduler(sched)
      5.times { |i| Fiber.schedule { sleep 0.01 * i if i.positive?; done << i } }
      assert_equal [0], done # only the one that did not sleep... yet
    end.join(30)
    assert_equal [0, 1, 2, 3, 4], done
    assert_true sched.closed?
  end

  def test_a_fiber_error_surfaces_after_the_others_finish
    done = []
    err = assert_raise(RuntimeError) do
      scheduled do
        Fiber.schedule { sleep 0.01; raise "boom" }
        Fiber.schedule { sleep 0.02; done << :other }
      end
    end
    assert_equal "boom", err.message
    assert_equal [:other], done
  end

  def test_io_wait_with_and_without_timeout
    r, w = IO.pipe
    seen = []
    scheduled do
      Fiber.schedule do
        seen << r.wait_readable(0.02) # nothing to read: times out
        gc_step
        seen << r.wait_readable(5)
        seen << w.wait_writable(1)
      end
      Fiber.schedule { sleep 0.05; w.write("x") }
    end
    assert_nil seen[0]
    assert_equal [r, w], seen[1, 2]
  ensure
    [r, w].each { |io| io&.close }
  end

  def test_more_fibers_than_op_slots
    sched = nil
    done = 0
    th = Thread.new do
      sched = Ringkit::Scheduler.new(entries: 2) # an op table of 8, one for the wakeup
      Fiber.set_scheduler(sched)
      40.times { |i| Fiber.schedule { sleep 0.001 * (i % 5); done += 1 } }
    end
    assert_not_nil th.join(30)
    assert_equal 8, sched.ring.capacity
    assert_equal 40, done
  end

  def test_condition_variable_between_fibers
    log = []
    scheduled do
      m = Mutex.new
      cv = ConditionVariable.new
      items = []
      Fiber.schedule do
        m.synchronize do
          cv.wait(m) while items.empty?
          log << items.shift
        end
      end
      Fiber.schedule do
        sleep 0.01
        gc_step
        m.synchronize { items << :item; cv.signal }
      end
    end
    assert_equal [:item], log
  end

  def test_scheduler_bad_input
    sched = Ringkit::Scheduler.new
    assert_raise(ArgumentError) { sched.fiber }
    assert_raise(ArgumentError) { sched.kernel_sleep(-1) }
    sched.close
  end
end
