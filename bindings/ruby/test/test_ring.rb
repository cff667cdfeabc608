# frozen_string_literal: true
# Ringkit::Ring and Ringkit::Region through fiddle: ids, packed reaps, the
# memory held by op id until the final completion, errors with errno.
require "helper"

class TestRing < Test::Unit::TestCase
  include RingkitTest

  def setup
    @ring = Ringkit::Ring.new(8)
    @pipes = []
  end

  def teardown
    @ring.close
    @pipes.flatten.each { |io| io.close unless io.closed? }
  end

  def pipe
    IO.pipe.tap { |p| @pipes << p }
  end

  def complete(*ids, limit: 10)
    done = {}
    deadline = Time.now + limit
    until (ids - done.keys).empty?
      flunk "no completion for #{ids - done.keys}" if Time.now > deadline
      @ring.reap(wait: 1, timeout: 1) { |id, res, _flags| done[id] = res }
      gc_step
    end
    done
  end

  def test_backend_is_the_one_asked_for
    want = want_backend
    assert_equal want, @ring.backend if want
    assert_include [Ringkit::C::RK_BACKEND_URING, Ringkit::C::RK_BACKEND_FALLBACK], @ring.backend
  end

  def test_pipe_read_write_and_timeout
    r, w = pipe
    buf = Fiddle::Pointer.malloc(16, Fiddle::RUBY_FREE)
    rd = @ring.read(r.fileno, buf)
    wr = @ring.write(w.fileno, +"hello")
    t = @ring.timeout(0.01)
    assert_true [rd, wr, t].all? { |i| i.is_a?(Integer) && i >= 0 }
    assert_same buf, @ring.held[rd] # held by id while in flight
    gc_step
    done = complete(rd, wr, t)
    assert_equal({ rd => 5, wr => 5, t => -Ringkit::C::ETIME }, done)
    assert_equal "hello", buf[0, 5]
    assert_empty @ring.held # released with the final completions
  end

  def test_reap_returns_triples_and_yields_them
    ids = 3.times.map { @ring.nop }
    got = []
    all = []
    all.concat(@ring.reap(wait: 3) { |rec| got << rec }) while all.size < 3
    assert_equal ids.sort, all.map(&:first).sort
    assert_equal all, got
    all.each { |_id, res, flags| assert_equal [0, 0], [res, flags] }
  end

  def test_cancel_a_blocked_read
    r, = pipe
    buf = Fiddle::Pointer.malloc(8, Fiddle::RUBY_FREE)
    rd = @ring.read(r.fileno, buf)
    @ring.submit
    c = @ring.cancel(rd)
    done = complete(rd, c)
    assert_equal(-Ringkit::C::ECANCELED, done[rd])
    assert_equal 0, done[c]
    # a stale id (its op completed) is refused, never applied to another op
    @ring.nop
    assert_raise(Errno::ENOENT) { @ring.cancel(rd) }
  end

  def test_full_op_table_is_ebusy
    ids = []
    assert_raise(Errno::EBUSY) { loop { ids << @ring.nop } }
    assert_equal @ring.capacity, ids.size
    complete(*ids)
    assert_kind_of Integer, @ring.nop
  end

  def test_bad_input_raises_never_crashes
    buf = Fiddle::Pointer.malloc(8, Fiddle::RUBY_FREE)
    assert_raise(ArgumentError) { @ring.read(0, +"a string can move") }
    assert_raise(ArgumentError) { @ring.read(0, buf, 9) }
    assert_raise(ArgumentError) { @ring.read(0, buf, 4, -1, 0, at: 6) }
    assert_raise(ArgumentError) { @ring.read("0", buf) }
    assert_raise(ArgumentError) { @ring.read(2**40, buf) }
    assert_raise(ArgumentError) { @ring.nop(-1) }
    assert_raise(ArgumentError) { @ring.timeout(-1) }
    assert_raise(ArgumentError) { @ring.read(0, Fiddle::Pointer.new(0)) }
    assert_raise(ArgumentError) { @ring.read_chunk(0, :region, 0, 1) }
    assert_raise(Errno::EINVAL) { @ring.nop(1 << 30) }
    assert_raise(ArgumentError) { Ringkit::Ring.new(-1) }
    assert_raise(Errno::EINVAL) { Ringkit::Ring.new(0) }
    assert_raise(Errno::EBADF) { @ring.read(-1, buf) }
    assert_empty @ring.held
    err = assert_raise_kind_of(SystemCallError) { Ringkit.check(-Errno::EBUSY::Errno) }
    assert_instance_of Errno::EBUSY, err
    assert_equal Errno::EBUSY::Errno, err.errno
  end

  def test_closed_ring_is_ebadf
    ring = Ringkit::Ring.new(4)
    ring.close
    ring.close # idempotent
    assert_raise(Errno::EBADF) { ring.nop }
    assert_raise(Errno::EBADF) { ring.reap }
  end

  def test_close_with_ops_in_flight_releases_what_they_held
    ring = Ringkit::Ring.new(4)
    r, = pipe
    buf = Fiddle::Pointer.malloc(8, Fiddle::RUBY_FREE)
    ring.read(r.fileno, buf)
    ring.submit
    assert_equal 1, ring.held.size
    ring.close
    assert_empty ring.held
  end

  def test_region_chunks_and_chunk_io
    region = Ringkit::Region.new(4096, 4)
    c = region.alloc
    assert_equal 3, region.chunks_free
    region.write(c, "chunk data")
    r, w = pipe
    wr = @ring.write_chunk(w.fileno, region, c, 10)
    c2 = region.alloc
    rd = @ring.read_chunk(r.fileno, region, c2, 10)
    assert_true region.busy?
    assert_raise(Errno::EBUSY) { region.free(c2) }
    done = complete(wr, rd)
    assert_equal [10, 10], [done[wr], done[rd]]
    assert_equal "chunk data", region.read(c2, 10)
    assert_raise(ArgumentError) { region.read(c2, 4097) }
    assert_raise(ArgumentError) { region.ptr(99) }
    assert_raise(ArgumentError) { region.write(c, 5) }
    region.free(c)
    assert_raise(Errno::EINVAL) { region.free(c) } # double free
    region.close
    assert_raise(Errno::EBADF) { region.alloc }
    assert_raise(Errno::EINVAL) { Ringkit::Region.new(0, 1) }
  end

  def test_provided_buffers_recv_select_and_recycle
    region = Ringkit::Region.new(64, 2)
    a, b = UNIXSocket.pair
    @ring.provide_region(region, 3)
    other = Ringkit::Ring.new(4)
    assert_raise(Errno::EBUSY) { other.provide_region(region, 3) } # provided to @ring
    other.close
    b.write("hello")
    id = @ring.recv_select(a.fileno, 3)
    rec = @ring.reap(wait: 1, timeout: 5).first
    assert_equal [id, 5], rec[0, 2]
    chunk = Ringkit::Ring.chunk_of(rec[2])
    assert_not_nil chunk
    assert_equal "hello", region.read(chunk, 5)
    @ring.recycle_chunk(region, chunk)
    assert_raise(Errno::EINVAL) { @ring.recycle_chunk(region, chunk) } # the kernel's again
    @ring.unprovide_region(region)
    assert_raise(Errno::ENOENT) { @ring.unprovide_region(region) }
    assert_nil Ringkit::Ring.chunk_of(0)
    region.close
  ensure
    a&.close
    b&.close
  end
end
