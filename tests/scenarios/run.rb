# frozen_string_literal: true
# The scenario runner for the Ruby binding (bindings/ruby, fiddle):
#   RINGKIT_LIB=<libringkit.so> ruby -I bindings/ruby/lib run.rb SCENARIO.json...
# A straight interpreter of the steps of README.md; exits 1 naming the
# scenario, the step and both values at the first unmet expectation.
require "json"
require "socket"
require "ringkit"

class Failure < StandardError; end

class Runner
  C = Ringkit::C

  def fail!(msg) = raise(Failure, "FAIL #{@scenario} step #{@step_no} (#{@op}): #{msg}")

  # A binding call's outcome as one integer: its value (nil: 0), or -errno
  # of the SystemCallError it raised.
  def result
    v = yield
    v.is_a?(Integer) ? v : 0
  rescue SystemCallError => e
    -e.errno
  end

  def allowed?(spec, got)
    case spec
    when Array then spec.any? { |s| allowed?(s, got) }
    when Integer then spec == got
    else
      name = spec.delete_prefix("-")
      fail!("no errno constant #{name}") unless C.const_defined?(name)
      got == (spec.start_with?("-") ? -C.const_get(name) : C.const_get(name))
    end
  end

  def expect(spec, got, what)
    return if spec.nil? || allowed?(spec, got)

    words = got.is_a?(Integer) && got.negative? ? Ringkit.strerror(got) : "ok"
    fail!("#{what}: expected #{Array(spec).join(' or ')}, got #{got} (#{words})")
  end

  def ring(step) = @names[step.fetch("ring", "r")] || fail!("ring #{step.fetch('ring', 'r')} is not open")

  def value(step, key)
    v = step.fetch(key)
    v.is_a?(Integer) ? v : @names.fetch(v) { fail!("unknown name #{v}") }
  end

  def flags(step) = step.fetch("flags", []).sum { |n| C.const_get("RK_#{n}") }

  def prep(step, ret, buf = nil)
    if step.key?("expect")
      expect(step["expect"], ret, "prep result")
    elsif ret.negative?
      fail!("prep failed: #{Ringkit.strerror(ret)}")
    end
    return unless ret >= 0 && step["as"]

    @names[step["as"]] = ret
    @bufs[ret] = buf
  end

  def run_file(path)
    @scenario = File.basename(path)
    @step_no = 0
    @op = "load"
    doc = JSON.parse(File.read(path))
    @names = {}
    @bufs = {}
    @open = []
    doc.fetch("steps").each_with_index do |step, i|
      @step_no = i + 1
      @op = step.fetch("op")
      fail!("unknown step") unless respond_to?("step_#{@op}")
      begin
        send("step_#{@op}", step)
      rescue Failure
        raise
      rescue StandardError => e # a binding call that raised: named, not a backtrace
        fail!("#{e.class}: #{e.message}")
      end
    end
    puts "ok #{@scenario}"
  ensure
    @open&.reverse_each { |o| o.close rescue nil } # rings before regions and sockets
  end

  def step_ring(step)
    r = Ringkit::Ring.new(step.fetch("entries", 8))
    @names[step["as"]] = r
    @open << r
  end

  def step_close_ring(step)
    r = ring(step)
    t0 = Process.clock_gettime(Process::CLOCK_MONOTONIC)
    ret = result { r.close }
    took = (Process.clock_gettime(Process::CLOCK_MONOTONIC) - t0) * 1000
    @names[step.fetch("ring", "r")] = nil
    expect(0, ret, "close")
    fail!("close took #{took.round} ms") if took >= step.fetch("expect_ms_below", 1000)
  end

  def step_socketpair(step)
    a, b = UNIXSocket.pair
    @open.unshift(a, b)
    @names["#{step['as']}.a"] = a.fileno
    @names["#{step['as']}.b"] = b.fileno
  end

  def step_sleep(step) = sleep(step.fetch("ms") / 1000.0)

  def step_region(step)
    g = Ringkit::Region.new(step.fetch("chunk_size"), step.fetch("nchunks"))
    @names[step["as"]] = g
    @open.unshift(g)
  end

  def step_chunk(step) = @names[step["as"]] = @names.fetch(step["region"]).alloc

  def step_destroy_region(step)
    expect(step["expect"], result { @names.fetch(step["region"]).close }, "destroy_region")
  end

  def region_call(step, method, *args)
    r = ring(step)
    expect(step["expect"], result { r.send(method, @names.fetch(step["region"]), *args) }, step["op"])
  end

  def step_provide(step) = region_call(step, :provide_region, step.fetch("group"))
  def step_unprovide(step) = region_call(step, :unprovide_region)
  def step_register_region(step) = region_call(step, :register_region)
  def step_unregister_region(step) = region_call(step, :unregister_region)
  def step_recycle(step) = region_call(step, :recycle_chunk, value(step, "chunk"))

  def step_nop(step) = prep(step, result { ring(step).nop(flags(step)) })

  def step_read(step)
    buf = Fiddle::Pointer.malloc(step.fetch("len"), Fiddle::RUBY_FREE)
    prep(step, result { ring(step).read(value(step, "fd"), buf, nil, -1, flags(step)) }, buf)
  end

  def step_write(step)
    prep(step, result { ring(step).write(value(step, "fd"), step.fetch("data"), nil, -1, flags(step)) })
  end

  def step_read_chunk(step)
    prep(step, result {
      ring(step).read_chunk(value(step, "fd"), @names.fetch(step["region"]), value(step, "chunk"),
                            step.fetch("len"), -1, flags(step))
    })
  end

  def step_recv_select(step)
    prep(step, result {
      ring(step).recv_select(value(step, "fd"), step.fetch("group"), step.fetch("len"), 0, flags(step))
    })
  end

  def step_timeout(step)
    prep(step, result {
      ring(step).timeout(step.fetch("ns") / 1e9, count: step.fetch("count", 0), flags: flags(step))
    })
  end

  def step_link_timeout(step)
    prep(step, result { ring(step).link_timeout(step.fetch("ns") / 1e9, flags: flags(step)) })
  end

  def step_cancel(step) = prep(step, result { ring(step).cancel(value(step, "target"), flags(step)) })

  def step_submit(step)
    ret = result { ring(step).submit }
    fail!("submit: #{Ringkit.strerror(ret)}") if ret.negative?
  end

  def step_inflight(step) = expect(step["expect"], ring(step).inflight, "live ops")

  def step_reap(step)
    r = ring(step)
    want = step.fetch("expect").to_h { |e| [@names.fetch(e["id"]) { fail!("unknown op #{e['id']}") }, e] }
    seq = {}
    deadline = Process.clock_gettime(Process::CLOCK_MONOTONIC) + step.fetch("timeout_ms", 5000) / 1000.0
    while want.empty? || seq.size < want.size
      left = deadline - Process.clock_gettime(Process::CLOCK_MONOTONIC)
      break if left <= 0

      recs = begin
        r.reap(wait: 1, timeout: left, max: 64)
      rescue Errno::EINTR
        []
      end
      recs.each do |id, res, fl|
        e = want[id] or fail!("unexpected completion: id #{id} res #{res}")
        fail!("op #{e['id']} completed twice") if seq.key?(id)
        seq[id] = seq.size
        expect(e["res"], res, "res of #{e['id']}")
        buf = @bufs[id]
        data = buf && res.positive? ? buf[0, res] : nil
        if e["chunk_as"]
          chunk = Ringkit::Ring.chunk_of(fl) or fail!("op #{e['id']}: expected a provided buffer, flags #{fl}")
          @names[e["chunk_as"]] = chunk
          data = @names.fetch(e["region"]).read(chunk, [res, 0].max)
        end
        if e["data"] && data != e["data"]
          fail!("data of #{e['id']}: expected #{e['data'].inspect}, got #{data.inspect}")
        end
      end
    end
    want.each do |id, e|
      fail!("op #{e['id']} did not complete in time") unless seq.key?(id)
      fail!("op #{e['id']} completed before #{e['after']}") if e["after"] && seq[@names[e["after"]]] > seq[id]
    end
  end

  def step_fd_count(step)
    n = Dir.children("/proc/self/fd").size - 1 # the listing's own descriptor
    step["as"] ? @names[step["as"]] = n : expect(value(step, "expect"), n, "open descriptors")
  end

  LIBC = Fiddle::Handle::DEFAULT
  PTHREAD_SELF = Fiddle::Function.new(LIBC["pthread_self"], [], Fiddle::TYPE_UINTPTR_T)
  PTHREAD_KILL = Fiddle::Function.new(LIBC["pthread_kill"], [Fiddle::TYPE_UINTPTR_T, Fiddle::TYPE_INT],
                                      Fiddle::TYPE_INT)

  # fiddle releases the GVL around rk_reap but gives Ruby no way to
  # interrupt the call, so a signal must reach the very thread that waits:
  # another Ruby thread sends SIGALRM to it with pthread_kill. The trap
  # handler returns; Ring#reap raises Errno::EINTR, as documented.
  def step_interrupt_reap(step)
    r = ring(step)
    after = step.fetch("after_ms", 50) / 1000.0
    old = trap("ALRM") {}
    me = PTHREAD_SELF.call
    t0 = Process.clock_gettime(Process::CLOCK_MONOTONIC)
    killer = Thread.new { sleep after; PTHREAD_KILL.call(me, Signal.list["ALRM"]) }
    outcome = begin
      "returned #{r.reap(wait: 1, timeout: 5, max: 8).inspect}"
    rescue Errno::EINTR
      "EINTR"
    end
    took = (Process.clock_gettime(Process::CLOCK_MONOTONIC) - t0) * 1000
    killer.join
    trap("ALRM", old)
    fail!("reap: expected the binding's EINTR outcome, got #{outcome}") unless outcome == "EINTR"
    fail!("reap ended after #{took.round} ms, before the signal") if took < after * 500
    fail!("reap took #{took.round} ms") if took >= step.fetch("expect_ms_below", 2000)
  end

  # README.md, "mixed": the same draws and checks in every runner.
  def step_mixed(step)
    r = ring(step)
    count = step.fetch("count")
    x = step.fetch("seed")
    cap = ENV["RINGKIT_SCENARIO_MIXED_MAX"]
    count = [count, Integer(cap)].min if cap && !cap.empty?
    link = C::RK_LINK
    etime = -C::ETIME
    sa, sb = UNIXSocket.pair
    stale = r.nop
    fail!("could not make a stale id") unless r.reap(wait: 1).map(&:first) == [stale]
    live = {}
    draws = ops = done = 0
    byte = "x"
    while draws < count
      [16, count - draws].min.times do
        x = x * 48_271 % 2_147_483_647
        case x % 4
        when 0 then live[r.nop] = 0
        when 1 then live[r.timeout(1e-6)] = etime
        when 2
          live[r.write(sb.fileno, byte, nil, -1, link)] = 1
          live[r.read(sa.fileno, Fiddle::Pointer.malloc(1, Fiddle::RUBY_FREE))] = 1
        else
          res = result { r.cancel(stale) }
          fail!("draw #{draws}: cancel of a stale id returned #{res}") unless res == -C::ENOENT
        end
        draws += 1
      end
      ops += live.size
      until live.empty?
        recs = r.reap(wait: 1, timeout: 5, max: 64)
        fail!("no completion in 5 s with #{live.size} ops live") if recs.empty?
        recs.each do |id, res, _|
          want = live.delete(id)
          fail!("completion of id #{id}: not a live op (twice, or unknown)") if want.nil?
          fail!("op id #{id}: expected res #{want}, got #{res}") unless res == want
          done += 1
        end
      end
    end
    extra = r.reap(timeout: 0)
    fail!("#{extra.size} completions after every op had its final one") unless extra.empty?
    fail!("#{ops} ops, #{done} final completions") unless done == ops
  ensure
    sa&.close
    sb&.close
  end
end

runner = Runner.new
begin
  ARGV.each { |path| runner.run_file(path) }
rescue Failure => e
  warn e.message
  exit 1
end
