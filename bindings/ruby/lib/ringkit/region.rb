# frozen_string_literal: true

module Ringkit
  # A pinned region: page-aligned memory outside the Ruby heap, carved into
  # chunk_size-byte chunks named by index. The GC never moves or frees it, so
  # it is the one kind of Ruby-reachable memory a read may target without
  # copying (Ring#read_chunk).
  class Region
    attr_reader :chunk_size, :nchunks

    def initialize(chunk_size, nchunks, flags = 0)
      out = Native.out_word
      Ringkit.check(Native.rk_region_create(Ringkit.int(chunk_size, :u32, "chunk_size"),
                                            Ringkit.int(nchunks, :u32, "nchunks"),
                                            Ringkit.int(flags, :u32, "flags"), out))
      @h = Fiddle::Pointer.new(out[0, 8].unpack1("J"))
      @chunk_size = Ringkit.check(Native.rk_region_chunk_size(@h))
      @nchunks = Ringkit.check(Native.rk_region_nchunks(@h))
      @state = [@h] # shared with the finalizer, which must not capture self
      ObjectSpace.define_finalizer(self, Region.finalizer(@state))
    end

    def self.finalizer(state)
      # A region still in use (registered with a ring collected in the same
      # cycle) is freed by the core when that use ends.
      proc { Native.rk_region_destroy(state[0]) if state[0] }
    end

    # The handle; Errno::EBADF once closed.
    def handle
      @h or raise SystemCallError.new("region is closed", Errno::EBADF::Errno)
    end

    def closed? = @h.nil?
    def alloc = Ringkit.check(Native.rk_chunk_alloc(handle))
    def free(chunk) = Ringkit.check(Native.rk_chunk_free(handle, Ringkit.int(chunk, :i32, "chunk")))
    def chunks_free = Ringkit.check(Native.rk_region_chunks_free(handle))
    def busy? = Ringkit.check(Native.rk_region_busy(handle)) == 1

    # The chunk's memory as a Fiddle::Pointer of chunk_size bytes (valid until
    # close). ArgumentError for an index out of range.
    def ptr(chunk)
      p = Native.rk_chunk_ptr(handle, Ringkit.int(chunk, :i32, "chunk"))
      raise ArgumentError, "no chunk #{chunk}" if p.null?

      Fiddle::Pointer.new(p.to_i, @chunk_size)
    end

    # A copy of length bytes of the chunk from offset.
    def read(chunk, length = @chunk_size, offset = 0)
      check_span(length, offset)
      ptr(chunk)[offset, length]
    end

    # Copies a String into the chunk at offset.
    def write(chunk, data, offset = 0)
      raise ArgumentError, "data must be a String" unless data.is_a?(String)

      check_span(data.bytesize, offset)
      ptr(chunk)[offset, data.bytesize] = data
      data.bytesize
    end

    # Frees the memory; Errno::EBUSY while a ring still uses it (an explicit
    # close does not give up memory the kernel may still write).
    def close
      return if @h.nil?
      raise Ringkit.error(-C::EBUSY) if busy?

      Native.rk_region_destroy(@h)
      @h = @state[0] = nil
    end

    private

    def check_span(length, offset)
      Ringkit.int(length, :u32, "length")
      Ringkit.int(offset, :u32, "offset")
      raise ArgumentError, "#{offset}+#{length} is past the chunk (#{@chunk_size} bytes)" if
        offset + length > @chunk_size
    end
  end
end
