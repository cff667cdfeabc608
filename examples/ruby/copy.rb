# frozen_string_literal: true
#
# copy.rb — copy a file through a ring with many reads and writes in flight.
#
#   ruby examples/ruby/copy.rb [--threads] [--depth N] [--chunk BYTES] [--no-verify] [--quiet] SRC DST
#
# DEPTH blocks (default 32) travel at once, each in one chunk of a pinned
# region (default 256 KiB): read into the chunk (Ringkit::Ring#read_chunk),
# then written from it at the same offset (#write_chunk), so the data never
# enters the Ruby heap; one rk_reap call brings back every completion that is
# ready. Short reads and writes resume at the advanced file offset and chunk
# position. With --threads, DEPTH Ruby threads do the same with IO#pread and
# IO#pwrite and no ringkit at all: the baseline of bench/ruby/run.sh.
#
# Like cp, it refuses to copy a file onto itself (the same inode, by any name
# or link): opening DST truncates it, which would destroy the source before
# the first read. A source that ends before the size it had when the copy
# began is an error, not a shorter copy. Afterwards the copy is compared with
# the source byte for byte (not timed) unless --no-verify. Prints "copied N
# bytes ..." (and "verified: identical") unless --quiet; exits 1 on any
# failure, with a message naming the file. The time and CPU time printed
# are the copy's alone, from the open of DST to its close.
require_relative "cli"

USAGE = "usage: copy.rb [--threads] [--depth N] [--chunk BYTES] [--no-verify] [--quiet] SRC DST\n"
CLI = Example::CLI.new("copy.rb", USAGE,
                       "Copies SRC to DST with DEPTH blocks in flight (default 32), CHUNK bytes\n" \
                       "each (default 262144), through a ringkit ring; --threads: through DEPTH\n" \
                       "threads with pread/pwrite instead (the baseline).\n")

# A failure to report: the message names the file.
class CopyError < StandardError
  def self.io(what, path, err) = new("cannot #{what} '#{path}': #{Example.strerror(err)}")
end

# What both copies share: the files, the blocks still to claim, the check
# that the source did not end early.
class Copy
  attr_reader :copied

  def initialize(src, dst, fin, fout, size, depth, chunk)
    @src = src
    @dst = dst
    @fin = fin
    @fout = fout
    @size = size
    @depth = depth
    @chunk = chunk
    @next = 0
    @copied = 0
  end

  private

  # The next block, as [offset, length], or nil when every block is claimed.
  def claim
    return nil if @next >= @size

    off = @next
    @next += [@chunk, @size - off].min
    [off, @next - off]
  end

  # A read found EOF at byte off: the source shrank under the copy, or its
  # size lies (sysfs files); a copy that silently comes out shorter loses data.
  def ended_early(off)
    CopyError.new("'#{@src}' ended at byte #{off} of the #{@size} it had when the copy began; " \
                  "'#{@dst}' is incomplete")
  end
end

# The copy through one ring: each block's chunk goes read, write, next block.
class RingCopy < Copy
  Block = Struct.new(:chunk, :offset, :want, :done, :writing)

  def run
    @ring = Ringkit::Ring.new([64, @depth * 2].max)
    @region = Ringkit::Region.new(@chunk, @depth)
    begin
      @ring.register_region(@region) # fixed buffers: no per-op page pinning
    rescue SystemCallError
      nil # RLIMIT_MEMLOCK and the like: an optimisation, never a requirement
    end
    @by_slot = Array.new(@ring.capacity) # the block each live op works for
    @inflight = 0
    @depth.times { start(Block.new(@region.alloc)) }
    reap_all while @inflight.positive?
  ensure
    @ring&.close # cancels what a failure left in flight, waits for the kernel
    @region&.close
  end

  private

  # One rk_reap: the whole batch is settled (each final completion taken out
  # of its slot) before any block moves on, since a block's next prep may
  # take a slot the same batch freed.
  def reap_all
    batch = begin
      @ring.reap(wait: 1)
    rescue Errno::EINTR
      return
    end
    owners = batch.map do |id, _res, _flags|
      slot = id & Ringkit::Ring::SLOT_MASK
      b = @by_slot[slot]
      @by_slot[slot] = nil
      b
    end
    @inflight -= batch.size
    batch.each_with_index { |(_id, res, _flags), i| step(owners[i], res) }
  end

  def step(b, res)
    if res.negative?
      err = SystemCallError.new(nil, -res)
      raise b.writing ? CopyError.io("write", @dst, err) : CopyError.io("read", @src, err)
    end
    raise ended_early(b.offset + b.done) if res.zero? && !b.writing
    raise CopyError.new("cannot write '#{@dst}': the write made no progress") if res.zero?

    b.done += res
    fd = b.writing ? @fout.fileno : @fin.fileno
    if b.done < b.want # short: the rest from the advanced offsets
      return prep(b) do
        if b.writing
          @ring.write(fd, @region.ptr(b.chunk), b.want - b.done, b.offset + b.done, at: b.done)
        else
          @ring.read(fd, @region.ptr(b.chunk), b.want - b.done, b.offset + b.done, at: b.done)
        end
      end
    end
    return start(b) if b.writing

    b.writing = true
    b.done = 0
    prep(b) { @ring.write_chunk(@fout.fileno, @region, b.chunk, b.want, b.offset) }
  end

  # Sends the block's chunk after the next block of the file, if any is left.
  def start(b)
    @copied += b.want if b.writing
    b.offset, b.want = claim
    return unless b.offset

    b.done = 0
    b.writing = false
    prep(b) { @ring.read_chunk(@fin.fileno, @region, b.chunk, b.want, b.offset) }
  end

  def prep(b)
    id = yield
    @by_slot[id & Ringkit::Ring::SLOT_MASK] = b
    @inflight += 1
  end
end

# The baseline: DEPTH threads, each claiming blocks and moving them with
# pread and pwrite (which release the GVL while they wait).
class ThreadCopy < Copy
  def run
    @lock = Mutex.new
    workers = Array.new(@depth) do
      Thread.new do
        Thread.current.report_on_exception = false # join raises it
        worker
      end
    end
    workers.each(&:join)
  end

  private

  def worker
    buf = String.new(capacity: @chunk)
    while (block = @lock.synchronize { claim })
      off, want = block
      done = 0
      while done < want
        read_at(buf, want - done, off + done)
        written = 0
        while written < buf.bytesize
          data = written.zero? ? buf : buf.byteslice(written..)
          written += io(:write, @dst) { @fout.pwrite(data, off + done + written) }
        end
        done += buf.bytesize
      end
      @lock.synchronize { @copied += want }
    end
  end

  def read_at(buf, len, off)
    io(:read, @src) { @fin.pread(len, off, buf) }
  rescue EOFError
    raise ended_early(off)
  end

  def io(what, path)
    yield
  rescue SystemCallError => e
    raise CopyError.io(what, path, e)
  end
end

def open_file(path, mode)
  File.open(path, mode)
rescue SystemCallError => e
  raise CopyError.io("open", path, e)
end

# Compares DST with SRC, MiB by MiB; nil when they are identical.
def difference(src, dst, copied)
  File.open(src, "rb") do |a|
    File.open(dst, "rb") do |b|
      off = 0
      loop do
        x = a.read(1 << 20)
        y = b.read(1 << 20)
        if x != y
          n = [x.to_s.bytesize, y.to_s.bytesize].min
          at = (0...n).find { |i| x.getbyte(i) != y.getbyte(i) } || n # or where one ended
          return "'#{src}' and '#{dst}' differ at byte #{off + at}"
        end
        break if x.nil?

        off += x.bytesize
      end
      return "'#{dst}' holds #{off} bytes, #{copied} were copied" if off != copied
    end
  end
  nil
end

o = CLI.parse(ARGV, flags: { "--threads" => :threads, "--no-verify" => :no_verify, "--quiet" => :quiet },
                    numbers: { "--depth" => [:depth, 1, 4096], "--chunk" => [:chunk, 1, 64 << 20] },
                    args: %w[SRC DST])
src = o[:src]
dst = o[:dst]
depth = o[:depth] || 32
chunk = o[:chunk] || (256 << 10)
Example.require_ringkit unless o[:threads]

begin
  fin = open_file(src, "rb")
  st = fin.stat
  raise CopyError.new("cannot copy '#{src}': #{Example.strerror(Errno::EISDIR.new)}") if st.directory?

  dst_st = begin
    File.stat(dst)
  rescue SystemCallError
    nil # not there yet (or unreachable: the open below says why)
  end
  if dst_st && dst_st.dev == st.dev && dst_st.ino == st.ino
    raise CopyError.new("'#{src}' and '#{dst}' are the same file")
  end

  fout = open_file(dst, "wb") # truncates: the same-file check comes first
  t0 = Process.clock_gettime(Process::CLOCK_MONOTONIC)
  cpu0 = Process.clock_gettime(Process::CLOCK_PROCESS_CPUTIME_ID) # every thread's
  copy = (o[:threads] ? ThreadCopy : RingCopy).new(src, dst, fin, fout, st.size, depth, chunk)
  begin
    copy.run
  rescue SystemCallError => e # making the ring or the region
    raise CopyError.new("cannot set up the copy: #{Example.strerror(e)}")
  end
  fout.close
  secs = Process.clock_gettime(Process::CLOCK_MONOTONIC) - t0
  cpu = Process.clock_gettime(Process::CLOCK_PROCESS_CPUTIME_ID) - cpu0
  fin.close
rescue CopyError => e
  CLI.fail(e.message)
end

unless o[:quiet]
  how = o[:threads] ? "threads" : "ring"
  puts format("copied %d bytes in %.3f s (CPU %.3f s): %.1f MiB/s (%s, depth %d, chunk %d)",
              copy.copied, secs, cpu, copy.copied / 1_048_576.0 / secs, how, depth, chunk)
end
unless o[:no_verify]
  diff = difference(src, dst, copy.copied)
  CLI.fail("verify: #{diff}") if diff
  puts "verified: identical" unless o[:quiet]
end
