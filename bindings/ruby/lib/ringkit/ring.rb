# frozen_string_literal: true

module Ringkit
  # One ring. Ops return integer ids; #reap returns (or yields) [id, res,
  # flags] triples. Use it from one thread at a time.
  #
  # The GC rule: whatever memory an op hands to the kernel stays referenced in
  # #held, a Hash keyed by op id, until that op's final completion has been
  # reaped (or the ring closed). Read targets must be memory the GC never
  # moves: a Fiddle::Pointer (Fiddle::Pointer.malloc) or a Region chunk; a
  # Ruby String is refused, since compaction may move it. Write sources given
  # as Strings are copied once into malloc'd memory, which is what is held.
  class Ring
    SLOT_MASK = 0xFFFF_FFFF
    RECORD = 16 # sizeof(rk_cqe): int64 id, int32 res, uint32 flags
    LEAKED = [] # what rings whose close timed out still held (the kernel may write it)

    attr_reader :capacity, :held

    def initialize(entries = 64, flags = 0, reap_batch: 256)
      Ringkit.int(reap_batch, :u32, "reap_batch")
      raise ArgumentError, "reap_batch must be > 0" if reap_batch.zero?

      out = Native.out_word
      Ringkit.check(Native.rk_ring_create(Ringkit.int(entries, :u32, "entries"),
                                          Ringkit.int(flags, :u32, "flags"), out))
      @h = Fiddle::Pointer.new(out[0, 8].unpack1("J"))
      @held = {}
      @batch = reap_batch
      @cqes = Fiddle::Pointer.malloc(RECORD * reap_batch, Fiddle::RUBY_FREE)
      @state = [@h, @held]
      ObjectSpace.define_finalizer(self, Ring.finalizer(@state))
      @capacity = stats[C::RK_STAT_CAPACITY]
    end

    # Closes a forgotten ring; the proc holds the ring's held objects, so they
    # outlive the close that waits for the kernel.
    def self.finalizer(state)
      proc { LEAKED << state[1] if state[0] && Native.rk_ring_close(state[0]) == -C::ETIMEDOUT }
    end

    def handle
      @h or raise SystemCallError.new("ring is closed", Errno::EBADF::Errno)
    end

    def closed? = @h.nil?
    def fd = Ringkit.check(Native.rk_ring_fd(handle))
    def backend = Ringkit.check(Native.rk_ring_backend(handle))
    def fallback? = backend == C::RK_BACKEND_FALLBACK

    def stats
      out = Fiddle::Pointer.malloc(8 * C::RK_STAT_COUNT, Fiddle::RUBY_FREE)
      n = Ringkit.check(Native.rk_ring_stats(handle, out, C::RK_STAT_COUNT))
      out[0, 8 * n].unpack("Q*")
    end

    def inflight = stats[C::RK_STAT_INFLIGHT]

    # -- ops ------------------------------------------------------------------

    def nop(flags = 0)
      op(Native.rk_prep_nop(handle, u32(flags)))
    end

    # Reads into buf (a Fiddle::Pointer of known size) at byte at, up to len
    # bytes (default: the rest of buf). offset -1: the file position.
    def read(fd, buf, len = nil, offset = -1, flags = 0, at: 0)
      addr, n = target(buf, len, at)
      op(Native.rk_prep_read(handle, i32(fd, "fd"), addr, n, i64(offset), u32(flags)), buf)
    end

    # Writes data (a String, copied once, or a Fiddle::Pointer) from byte at.
    def write(fd, data, len = nil, offset = -1, flags = 0, at: 0)
      if data.is_a?(String)
        len ||= data.bytesize - at
        data = Ring.copy(data)
      end
      addr, n = target(data, len, at)
      op(Native.rk_prep_write(handle, i32(fd, "fd"), addr, n, i64(offset), u32(flags)), data)
    end

    def read_chunk(fd, region, chunk, len, offset = -1, flags = 0)
      region_arg!(region)
      op(Native.rk_prep_read_chunk(handle, i32(fd, "fd"), region.handle, i32(chunk, "chunk"),
                                   u32(len), i64(offset), u32(flags)), region)
    end

    def write_chunk(fd, region, chunk, len, offset = -1, flags = 0)
      region_arg!(region)
      op(Native.rk_prep_write_chunk(handle, i32(fd, "fd"), region.handle, i32(chunk, "chunk"),
                                    u32(len), i64(offset), u32(flags)), region)
    end

    def poll_add(fd, mask, flags = 0)
      op(Native.rk_prep_poll_add(handle, i32(fd, "fd"), u32(mask), u32(flags)))
    end

    # Completes with -ETIME after seconds (or 0 after count other completions).
    def timeout(seconds, count: 0, timeout_flags: 0, flags: 0)
      op(Native.rk_prep_timeout(handle, Ringkit.ns(seconds), u32(count), u32(timeout_flags),
                                u32(flags)))
    end

    # Bounds the op prepared just before (with RK_LINK) to seconds.
    def link_timeout(seconds, timeout_flags: 0, flags: 0)
      op(Native.rk_prep_link_timeout(handle, Ringkit.ns(seconds), u32(timeout_flags), u32(flags)))
    end

    def cancel(target, flags = 0)
      op(Native.rk_prep_cancel(handle, i64(target), u32(flags)))
    end

    def cancel_all = Ringkit.check(Native.rk_ring_cancel_all(handle))

    def register_region(region)
      region_arg!(region)
      Ringkit.check(Native.rk_ring_register_region(handle, region.handle))
    end

    def unregister_region(region)
      region_arg!(region)
      Ringkit.check(Native.rk_ring_unregister_region(handle, region.handle))
    end

    # -- provided buffers -------------------------------------------------------

    # Hands every free chunk of region to the kernel as buffer group `group`
    # (by default the lowest id the ring does not use) and returns the group
    # id: a recv_select picks one itself and its completion names it
    # (Ring.chunk_of(flags)); the caller then owns it until #recycle_chunk.
    def provide_region(region, group = C::RK_GROUP_ANY)
      region_arg!(region)
      Ringkit.check(Native.rk_ring_provide_region(handle, region.handle,
                                                   Ringkit.int(group, :u16, "group")))
    end

    def recycle_chunk(region, chunk)
      region_arg!(region)
      Ringkit.check(Native.rk_ring_recycle_chunk(handle, region.handle, i32(chunk, "chunk")))
    end

    def unprovide_region(region)
      region_arg!(region)
      Ringkit.check(Native.rk_ring_unprovide_region(handle, region.handle))
    end

    # recv into a chunk the kernel picks from `group` (len 0: the whole chunk).
    def recv_select(fd, group, len = 0, msg_flags = 0, flags = 0)
      op(Native.rk_prep_recv_select(handle, i32(fd, "fd"), Ringkit.int(group, :u16, "group"),
                                    u32(len, "len"), i32(msg_flags, "msg_flags"), u32(flags)))
    end

    # The chunk a provided-buffer completion filled, or nil.
    def self.chunk_of(flags)
      (flags & C::RK_CQE_F_BUFFER).zero? ? nil : flags >> C::RK_CQE_BUFFER_SHIFT
    end

    # -- submission and completion ---------------------------------------------

    def submit = Ringkit.check(Native.rk_submit(handle))

    # Submits, waits until `wait` completions are ready (at most `timeout`
    # seconds; nil: no limit) and takes up to `max` records in one call: the
    # ring fills a packed string of 16-byte rk_cqe records. Returns them as
    # [id, res, flags] (yielding each when a block is given), after
    # releasing what the batch's final completions held: a slot freed here
    # may be taken by the next prep made while handling them.
    # Errno::EINTR when a signal interrupted the wait (nothing is lost).
    def reap(wait: 0, timeout: nil, max: nil)
      cap = max.nil? ? @batch : [Ringkit.int(max, :u32, "max"), @batch].min
      n = Ringkit.check(Native.rk_reap(handle, @cqes, cap, u32(wait), Ringkit.ns(timeout)))
      out = Ring.unpack(@cqes[0, RECORD * n])
      more = C::RK_CQE_F_MORE
      out.each { |id, _res, flags| @held.delete(id) if id >= 0 && (flags & more).zero? }
      out.each { |rec| yield rec } if block_given?
      out
    end

    # [id, res, flags] triples of a packed string of rk_cqe records.
    def self.unpack(packed)
      packed.unpack("q<l<L<" * (packed.bytesize / RECORD)).each_slice(3).to_a
    end

    # Cancels what is in flight, waits for the kernel, frees the ring; what
    # ops held is released only then (kept for good when the kernel did not
    # let go in time: Errno::ETIMEDOUT).
    def close
      return if @h.nil?

      r = Native.rk_ring_close(@h)
      @h = @state[0] = nil
      if r == -C::ETIMEDOUT
        LEAKED << @held
        @held = {}
      else
        @held.clear
      end
      Ringkit.check(r)
      nil
    end

    # A String's bytes in malloc'd memory that no GC moves.
    def self.copy(str)
      p = Fiddle::Pointer.malloc([str.bytesize, 1].max, Fiddle::RUBY_FREE)
      p[0, str.bytesize] = str unless str.empty?
      p
    end

    private

    def op(ret, keep = nil)
      Ringkit.check(ret)
      @held[ret] = keep if keep
      ret
    end

    # (address, length) of byte at..at+len of a Fiddle::Pointer.
    def target(buf, len, at)
      unless buf.is_a?(Fiddle::Pointer)
        raise ArgumentError, "the buffer must be a Fiddle::Pointer (Fiddle::Pointer.malloc) " \
                             "or a Region chunk, not a #{buf.class}: the GC may move Ruby objects"
      end
      raise ArgumentError, "null buffer" if buf.null?

      Ringkit.int(at, :u32, "at")
      size = buf.size
      raise ArgumentError, "at #{at} is past the buffer (#{size} bytes)" if at > size

      len = size - at if len.nil?
      Ringkit.int(len, :u32, "len")
      raise ArgumentError, "#{at}+#{len} is past the buffer (#{size} bytes)" if at + len > size

      [buf.to_i + at, len]
    end

    def region_arg!(region)
      raise ArgumentError, "expected a Ringkit::Region, got #{region.class}" unless region.is_a?(Region)
    end

    def u32(v, what = "flags") = Ringkit.int(v, :u32, what)
    def i32(v, what) = Ringkit.int(v, :i32, what)
    def i64(v, what = "offset") = Ringkit.int(v, :i64, what)
  end
end
