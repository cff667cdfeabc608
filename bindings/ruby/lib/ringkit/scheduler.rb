# frozen_string_literal: true
require "socket"

module Ringkit
  # A complete Ruby 3.1 Fiber::Scheduler on one ring.
  #
  #   Fiber.set_scheduler(Ringkit::Scheduler.new)
  #   Fiber.schedule { ... }   # reads, writes, sleeps, Mutex, Queue, Timeout
  #   # the thread's end (or Fiber.set_scheduler(nil)) runs every fiber to completion
  #
  # How it is put together (doc/backend-guide.md tells the same for VM authors):
  #   * io_read/io_write are read/write ops on the file descriptor (offset -1:
  #     the file position), not readiness polls. The kernel reads into and
  #     writes from malloc'd staging memory that the ring holds by op id until
  #     the op's final completion; the IO::Buffer Ruby passed in is only
  #     touched here, on this thread, with set_string/get_string. Ruby's
  #     IO::Buffer lives only as long as the hook call, and a fiber can be
  #     raised into while its op is in flight: the op is then cancelled and
  #     its staging memory stays referenced until the cancellation completes.
  #   * A fiber waiting for an op is found from the completion through the
  #     op's slot (id & 0xffffffff) as an index into a plain Array sized to the
  #     ring's op table; the whole batch of completions is settled before any
  #     fiber runs, so a slot freed by it and reused by the next prep never
  #     wakes the wrong fiber.
  #   * The loop sleeps in rk_reap (fiddle releases the GVL around it). Another
  #     thread that unblocks one of our fibers (Queue#push, Mutex#unlock,
  #     Thread exit) queues the fiber and writes an eventfd that the ring
  #     always has a read op on, so the reap returns.
  class Scheduler
    module Libc
      H = Fiddle.dlopen(nil)
      I = Fiddle::TYPE_INT
      EVENTFD = Fiddle::Function.new(H["eventfd"], [-I, I], I)
      WRITE = Fiddle::Function.new(H["write"], [I, Fiddle::TYPE_VOIDP, Fiddle::TYPE_SIZE_T],
                                   Fiddle::TYPE_SSIZE_T)
      CLOSE = Fiddle::Function.new(H["close"], [I], I)
      PIDFD_OPEN = begin
        Fiddle::Function.new(H["pidfd_open"], [I, -I], I)
      rescue Fiddle::DLError
        nil # glibc < 2.36: process_wait waits in a thread
      end
      EFD_CLOEXEC = 0o2000000
    end

    # One suspended fiber's wait: for an op (id), a block/sleep (id nil).
    # after: run on the op's final completion, whoever still waits.
    Wait = Struct.new(:fiber, :id, :res, :done, :after)
    # A Timeout.timeout scope: raises into fiber when its timer fires.
    Timer = Struct.new(:fiber, :klass, :message, :active, :id)

    ONE = [1].pack("Q").freeze
    NO_OP = proc {}

    attr_reader :ring, :orphan_results

    def initialize(entries: 256, flags: 0)
      @ring = Ring.new(entries, flags)
      @thread = Thread.current
      @slots = Array.new(@ring.capacity) # by op slot: Wait, Proc or nil
      @ready = []                        # procs the loop runs next
      @suspended = {}.compare_by_identity # fiber -> Wait it is suspended on
      @blocked = {}.compare_by_identity   # fiber -> Wait of block()
      @pending_raise = {}.compare_by_identity # fiber -> Timer that fired while it ran
      @inbox = Thread::Queue.new          # fibers other threads unblocked
      @slot_waiters = []                  # fibers waiting for a free op slot
      @errors = []
      @orphan_results = [] # res of cancelled ops' final completions (newest last)
      @orphans = 0
      @closed = false
      @efd = Libc::EVENTFD.call(0, Libc::EFD_CLOEXEC)
      Ringkit.check(-Fiddle.last_error) if @efd.negative?
      @wake_buf = Fiddle::Pointer.malloc(8, Fiddle::RUBY_FREE)
      arm_wakeup
    end

    def closed? = @closed

    # Ops cancelled while their fiber moved on, whose final completion has
    # not come yet: their memory is still held by the ring.
    attr_reader :orphans

    # -- Fiber::Scheduler hooks ------------------------------------------------

    def fiber(**options, &block)
      raise ArgumentError, "no block given" unless block

      f = Fiber.new(**{ blocking: false }.merge(options), &block)
      f.resume
      f
    end

    def io_wait(io, events, timeout)
      mask = events & (C::POLLIN | C::POLLPRI | C::POLLOUT)
      id = prep { @ring.poll_add(io.fileno, mask) }
      timed_out = false
      if timeout
        # A timer of its own rather than a linked timeout: each prep may have
        # to wait for a free slot, and a chain must not stay open meanwhile.
        timer = prep { @ring.timeout(timeout) }
        @slots[timer & Ring::SLOT_MASK] = proc do |tres|
          poll = @slots[id & Ring::SLOT_MASK]
          if tres == -C::ETIME && poll.is_a?(Wait) && poll.id == id # the poll still waits
            timed_out = true
            cancel_quietly(id)
          end
        end
      end
      begin
        res = wait_op(id)
      ensure
        cancel_quietly(timer) if timer && !timed_out
      end
      return false if timed_out && res == -C::ECANCELED
      raise Ringkit.error(res) if res.negative?

      # HUP or an error: the next read or write does not block either.
      (res & (C::POLLHUP | C::POLLERR)).nonzero? ? events : events & res
    end

    def io_read(io, buffer, length)
      fd = io.fileno
      size = buffer.size
      return 0 if size.zero?

      stage = Fiddle::Pointer.malloc(size, Fiddle::RUBY_FREE)
      total = transfer(io, size, length, IO::READABLE) do |done|
        @ring.read(fd, stage, size - done, -1, at: done)
      end
      buffer.set_string(stage[0, total]) if total.positive?
      total
    end

    def io_write(io, buffer, length)
      fd = io.fileno
      size = buffer.size
      return 0 if size.zero?

      stage = Ring.copy(buffer.get_string(0, size))
      transfer(io, size, length, IO::WRITABLE) do |done|
        @ring.write(fd, stage, size - done, -1, at: done)
      end
    end

    # What io_read and io_write share: the op the block preps (given the
    # bytes moved so far) is repeated until length bytes (or the buffer's
    # size) moved; an error or EOF ends it, and is the answer when nothing
    # moved yet. -EAGAIN (an O_NONBLOCK file: io_uring does not wait for
    # it) waits for readiness first.
    private def transfer(io, size, length, readiness)
      total = 0
      loop do
        res = wait_op(prep { yield total })
        if res == -C::EAGAIN
          io_wait(io, readiness, nil)
          next
        end
        next if res == -C::EINTR
        if res <= 0
          return res if total.zero?

          break
        end
        total += res
        break if total >= length || total == size
      end
      total
    end

    def kernel_sleep(duration = nil)
      if duration.nil?
        block(:sleep, nil)
      else
        wait_op(prep { @ring.timeout(duration) })
      end
      true
    end

    # Suspends until unblock(blocker, this fiber); false when timeout passed first.
    def block(_blocker, timeout = nil)
      f = Fiber.current
      w = Wait.new(f)
      @blocked[f] = w
      if timeout
        timer = prep { @ring.timeout(timeout) }
        @slots[timer & Ring::SLOT_MASK] = proc do
          if @blocked[f].equal?(w)
            @blocked.delete(f)
            finish(w, false)
          end
        end
      end
      begin
        suspend(w)
      ensure
        @blocked.delete(f) if @blocked[f].equal?(w)
        cancel_quietly(timer) if timer && w.res != false # not fired: take it back
      end
      w.res
    end

    # May be called from any thread.
    def unblock(_blocker, fiber)
      if Thread.current.equal?(@thread)
        wake(fiber)
      else
        @inbox << fiber
        efd = @efd
        Libc::WRITE.call(efd, ONE, 8) if efd >= 0 # -1 once closed: never a reused number
      end
      nil
    end

    def timeout_after(duration, klass, message, &block)
      t = Timer.new(Fiber.current, klass, message, true)
      t.id = prep { @ring.timeout(duration) }
      @slots[t.id & Ring::SLOT_MASK] = proc do |res|
        t.id = nil
        fire(t) if res == -C::ETIME
      end
      begin
        block.call(duration)
      ensure
        t.active = false
        cancel_quietly(t.id) if t.id
      end
    end

    def process_wait(pid, flags)
      if pid.positive? && (flags & ~Process::WNOHANG).zero? && Libc::PIDFD_OPEN
        return reap_child(pid, flags) if (flags & Process::WNOHANG).nonzero?

        pidfd = Libc::PIDFD_OPEN.call(pid, 0)
        if pidfd >= 0
          # The pidfd is closed on the poll's final completion, never under it.
          id = prep { @ring.poll_add(pidfd, C::POLLIN) }
          res = wait_op(id, after: ->(_) { Libc::CLOSE.call(pidfd) })
          raise Ringkit.error(res) if res.negative?

          return reap_child(pid, flags)
        end
      end
      # Any child, a process group, WUNTRACED...: waitpid in a thread; the
      # join is a block() that the thread's end unblocks.
      Thread.new { Process::Status.wait(pid, flags) }.value
    end

    # waitpid for an exited child (or WNOHANG) in a blocking fiber: Ruby
    # would route Process::Status.wait straight back to process_wait.
    def reap_child(pid, flags)
      Fiber.new(blocking: true) { Process::Status.wait(pid, flags) }.resume
    end

    def address_resolve(hostname)
      host = hostname.sub(/%.*\z/, "") # a scope id (fe80::1%eth0) is not resolved
      Thread.new do
        Addrinfo.getaddrinfo(host, nil, nil, :STREAM).map(&:ip_address).uniq
      rescue SocketError
        []
      end.value
    end

    # Runs every fiber to completion, then closes the ring. Ruby calls it when
    # the scheduler is replaced and when its thread ends.
    def close
      return if @closed

      run
      @closed = true
      @ring.close
      efd = @efd
      @efd = -1
      Libc::CLOSE.call(efd)
      raise @errors.first unless @errors.empty?
    end

    # Runs the loop until no fiber waits for anything.
    def run
      raise ThreadError, "a scheduler runs on the thread that made it" unless Thread.current.equal?(@thread)

      loop do
        drain_inbox
        run_ready
        # Cancelled ops (orphans) are waited for too: their completion is
        # prompt, and then nothing the kernel may still touch is left.
        break if @suspended.empty? && @ready.empty? && @inbox.empty? && @orphans.zero?

        reap(@ready.empty? && @inbox.empty? ? 1 : 0)
      end
    end

    # -- the loop --------------------------------------------------------------

    private

    # The first pass settles every record of the batch (takes each final
    # completion's entry out of its slot); only then is anything run that
    # may prepare ops into the slots just freed.
    def reap(wait)
      batch = begin
        @ring.reap(wait: wait)
      rescue Errno::EINTR
        return
      end
      entries = batch.map do |id, _res, flags|
        next nil if id.negative? || (flags & C::RK_CQE_F_MORE).nonzero?

        slot = id & Ring::SLOT_MASK
        e = @slots[slot]
        @slots[slot] = nil
        e
      end
      batch.each_with_index do |(id, res, _flags), i|
        case (e = entries[i])
        when Proc then e.call(res)
        when Wait then complete(e, id, res)
        end
      end
      wake_slot_waiters unless batch.empty?
    end

    def complete(w, id, res)
      return unless w.id == id

      w.after&.call(res)
      if w.fiber
        finish(w, res)
      else # cancelled: its fiber moved on, the ring let go of its memory just now
        @orphans -= 1
        @orphan_results << res
        @orphan_results.shift if @orphan_results.size > 64
      end
    end

    def finish(w, res)
      w.res = res
      w.done = true
      f = w.fiber
      @ready << -> { f.resume if @suspended[f].equal?(w) }
    end

    def run_ready
      until @ready.empty?
        batch = @ready
        @ready = []
        batch.each do |job|
          job.call
        rescue Exception => e # rubocop:disable Lint/RescueException
          @errors << e # a fiber died of it; the others still run
        end
      end
    end

    def wake(fiber)
      w = @blocked.delete(fiber)
      finish(w, true) if w
    end

    def drain_inbox
      until @inbox.empty?
        f = begin
          @inbox.pop(true)
        rescue ThreadError
          break
        end
        wake(f)
      end
    end

    def arm_wakeup
      id = @ring.read(@efd, @wake_buf, 8)
      @slots[id & Ring::SLOT_MASK] = proc do |res|
        drain_inbox
        arm_wakeup unless @closed || res == -C::ECANCELED
      end
    end

    def fire(t)
      @ready << -> { deliver(t) }
    end

    # Raises a Timeout into its fiber: now when it is suspended in a hook
    # (on whatever it waits for by then), else at its next suspension.
    def deliver(t)
      f = t.fiber
      return unless t.active && f.alive?

      if @suspended.key?(f)
        f.raise(t.klass, t.message)
      else
        @pending_raise[f] = t
      end
    end

    # -- on the fiber ----------------------------------------------------------

    # Yields to the loop until it resumes this fiber for w (or raises into it).
    def suspend(w)
      raise FiberError, "the scheduler is closed" if @closed

      f = Fiber.current
      t = @pending_raise.delete(f)
      raise t.klass, t.message if t&.active

      @suspended[f] = w
      begin
        Fiber.yield until w.done
      ensure
        @suspended.delete(f)
      end
    end

    # Waits for op id's final completion and returns its res. Raised into
    # (Timeout, Fiber#raise): the op is cancelled; the ring keeps its memory
    # until the final completion, which the loop then drops.
    def wait_op(id, after: nil)
      w = Wait.new(Fiber.current, id, nil, false, after)
      @slots[id & Ring::SLOT_MASK] = w
      begin
        suspend(w)
      rescue Exception # rubocop:disable Lint/RescueException
        unless w.done
          w.fiber = nil
          @orphans += 1
          cancel_quietly(id)
        end
        raise
      end
      w.res
    end

    def cancel_quietly(id)
      prep { @ring.cancel(id) }
    rescue SystemCallError
      nil # the ring is closing: rk_ring_close cancels it
    end

    # Runs a prep; a full op table (Errno::EBUSY) waits for the loop to free
    # a slot instead of failing the fiber.
    def prep
      yield
    rescue Errno::EBUSY
      raise if Fiber.current.blocking? || @closed

      w = Wait.new(Fiber.current)
      @slot_waiters << w
      suspend(w)
      retry
    end

    def wake_slot_waiters
      waiting = @slot_waiters
      @slot_waiters = []
      waiting.each { |w| finish(w, true) }
    end
  end
end
