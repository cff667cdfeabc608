# frozen_string_literal: true
#
# Loading libringkit with fiddle and declaring its functions: no compiler,
# no header parsing. SIGNATURES lists every function this binding calls with
# the libffi type names of doc/abi.json (test_abi.rb compares the table with
# the listing, so it cannot drift); the constants come from the library
# itself through rk_constant_at.
require "fiddle"

module Ringkit
  ABI_MAJOR = 0 # the soname's major: libringkit.so.0

  # The library could not be loaded from any of the paths tried.
  class LoadError < ::LoadError; end

  module Native
    SIGNATURES = {
      rk_version: ["uint32", []],
      rk_strerror: ["pointer", ["sint32"]],
      rk_constant_at: ["sint32", %w[uint32 pointer pointer]],
      rk_ring_create: ["sint32", %w[uint32 uint32 pointer]],
      rk_ring_close: ["sint32", ["pointer"]],
      rk_ring_cancel_all: ["sint32", ["pointer"]],
      rk_ring_fd: ["sint32", ["pointer"]],
      rk_ring_backend: ["sint32", ["pointer"]],
      rk_ring_stats: ["sint32", %w[pointer pointer uint32]],
      rk_prep_nop: ["sint64", %w[pointer uint32]],
      rk_prep_read: ["sint64", %w[pointer sint32 pointer uint32 sint64 uint32]],
      rk_prep_write: ["sint64", %w[pointer sint32 pointer uint32 sint64 uint32]],
      rk_prep_read_chunk: ["sint64", %w[pointer sint32 pointer sint32 uint32 sint64 uint32]],
      rk_prep_write_chunk: ["sint64", %w[pointer sint32 pointer sint32 uint32 sint64 uint32]],
      rk_prep_poll_add: ["sint64", %w[pointer sint32 uint32 uint32]],
      rk_prep_timeout: ["sint64", %w[pointer sint64 uint32 uint32 uint32]],
      rk_prep_link_timeout: ["sint64", %w[pointer sint64 uint32 uint32]],
      rk_prep_cancel: ["sint64", %w[pointer sint64 uint32]],
      rk_submit: ["sint32", ["pointer"]],
      rk_reap: ["sint32", %w[pointer pointer uint32 uint32 sint64]],
      rk_region_create: ["sint32", %w[uint32 uint32 uint32 pointer]],
      rk_region_destroy: ["sint32", ["pointer"]],
      rk_chunk_alloc: ["sint32", ["pointer"]],
      rk_chunk_free: ["sint32", %w[pointer sint32]],
      rk_chunk_ptr: ["pointer", %w[pointer sint32]],
      rk_region_chunk_size: ["sint64", ["pointer"]],
      rk_region_nchunks: ["sint64", ["pointer"]],
      rk_region_chunks_free: ["sint64", ["pointer"]],
      rk_region_busy: ["sint32", ["pointer"]],
      rk_ring_register_region: ["sint32", %w[pointer pointer]],
      rk_ring_unregister_region: ["sint32", %w[pointer pointer]],
      rk_ring_provide_region: ["sint32", %w[pointer pointer uint16]],
      rk_ring_recycle_chunk: ["sint32", %w[pointer pointer sint32]],
      rk_ring_unprovide_region: ["sint32", %w[pointer pointer]],
      rk_prep_recv_select: ["sint64", %w[pointer sint32 uint16 uint32 sint32 uint32]],
    }.freeze

    # libffi type name -> fiddle type (negative: unsigned)
    FFI_TYPES = {
      "void" => Fiddle::TYPE_VOID, "pointer" => Fiddle::TYPE_VOIDP,
      "sint8" => Fiddle::TYPE_INT8_T, "uint8" => -Fiddle::TYPE_INT8_T,
      "sint16" => Fiddle::TYPE_INT16_T, "uint16" => -Fiddle::TYPE_INT16_T,
      "sint32" => Fiddle::TYPE_INT32_T, "uint32" => -Fiddle::TYPE_INT32_T,
      "sint64" => Fiddle::TYPE_INT64_T, "uint64" => -Fiddle::TYPE_INT64_T,
    }.freeze

    # Where the library is looked for: $RINGKIT_LIB, then the build dirs of
    # this checkout, then the dynamic linker's search path and the usual
    # install prefixes.
    def self.candidates
      return [ENV["RINGKIT_LIB"]] if ENV["RINGKIT_LIB"] && !ENV["RINGKIT_LIB"].empty?
      root = File.expand_path("../../../..", __dir__)
      build = %w[build build-test].map { |d| File.join(root, d, "src", "libringkit.so.#{ABI_MAJOR}") }
      build + ["libringkit.so.#{ABI_MAJOR}", "/usr/local/lib/libringkit.so.#{ABI_MAJOR}",
               "/usr/local/lib/x86_64-linux-gnu/libringkit.so.#{ABI_MAJOR}"]
    end

    def self.load_library
      tried = []
      candidates.each do |path|
        return [Fiddle.dlopen(path), path]
      rescue Fiddle::DLError => e
        tried << "#{path} (#{e.message})"
      end
      raise Ringkit::LoadError, "libringkit not found; set RINGKIT_LIB. Tried: #{tried.join('; ')}"
    end

    HANDLE, PATH = load_library
    FUNCTIONS = {}
    SIGNATURES.each do |name, (ret, params)|
      FUNCTIONS[name] = Fiddle::Function.new(HANDLE[name.to_s], params.map { |t| FFI_TYPES.fetch(t) },
                                             FFI_TYPES.fetch(ret), name: name.to_s)
    rescue Fiddle::DLError
      raise Ringkit::LoadError, "#{PATH} lacks #{name}: not a ringkit #{ABI_MAJOR}.x library"
    end
    FUNCTIONS.freeze
    SIGNATURES.each_key do |name|
      fn = FUNCTIONS[name]
      define_singleton_method(name) { |*args| fn.call(*args) }
    end

    if rk_version >> 16 != ABI_MAJOR
      raise Ringkit::LoadError, "#{PATH} is not a ringkit #{ABI_MAJOR}.x library"
    end

    # An 8-byte out-parameter outside the Ruby heap.
    def self.out_word
      Fiddle::Pointer.malloc(8, Fiddle::RUBY_FREE)
    end

    def self.import_constants
      table = {}
      name, value = out_word, out_word
      index = 0
      while rk_constant_at(index, name, value).zero?
        str = Fiddle::Pointer.new(name[0, 8].unpack1("J")).to_s
        table[str] = value[0, 8].unpack1("q")
        index += 1
      end
      table.freeze
    end
  end

  CONSTANTS = Native.import_constants
  # Ringkit::C::RK_LINK, C::POLLIN, C::ETIME ... as imported from the library.
  module C; end
  CONSTANTS.each { |k, v| C.const_set(k, v) if k.match?(/\A[A-Z]/) }

  def self.strerror(err)
    Native.rk_strerror(err).to_s
  end

  # ret, or the SystemCallError subclass of its errno (Errno::EBUSY, ...).
  def self.check(ret)
    raise error(ret) if ret.negative?

    ret
  end

  # The exception for a negative errno: Errno::EXXX, with rk_strerror's
  # advice (when it adds any) as the message.
  def self.error(err)
    plain = SystemCallError.new(nil, -err).message
    extra = strerror(err).delete_prefix(plain).strip.delete_prefix("(").delete_suffix(")")
    SystemCallError.new(extra.empty? ? nil : extra, -err)
  end

  LIMITS = {
    i32: [-(2**31), 2**31 - 1], u32: [0, 2**32 - 1], i64: [-(2**63), 2**63 - 1], u16: [0, 2**16 - 1],
  }.freeze

  # v as an integer of the C type kind, or ArgumentError: fiddle would
  # otherwise convert or truncate silently.
  def self.int(v, kind, what)
    lo, hi = LIMITS.fetch(kind)
    raise ArgumentError, "#{what} must be an Integer (got #{v.class})" unless v.is_a?(Integer)
    raise ArgumentError, "#{what} #{v} is out of range #{lo}..#{hi}" unless v.between?(lo, hi)

    v
  end

  # A duration in seconds as int64 nanoseconds (nil: -1, no limit).
  def self.ns(seconds, what = "timeout")
    return -1 if seconds.nil?
    raise ArgumentError, "#{what} must be Numeric" unless seconds.is_a?(Numeric)
    raise ArgumentError, "#{what} must be >= 0" if seconds.negative?

    [(seconds * 1_000_000_000).to_i, 2**63 - 1].min
  end
end
