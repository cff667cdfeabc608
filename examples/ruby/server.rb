# frozen_string_literal: true
#
# What the Ruby servers (echo.rb, http.rb) share: the command line, a
# listener on 127.0.0.1, one worker per connection running the server's
# plain socket code, and a clean stop.
#
# The worker is a fiber of a Ringkit::Scheduler (the default): every
# readpartial and write it makes is a read or write op on the ring, and an
# accept waits in a poll op. With --threads it is a plain Ruby thread and no
# ringkit is loaded at all: the same program, the baseline of
# bench/ruby/run.sh.
#
# SIGINT, SIGTERM, or SECONDS elapsed, stops it: the listener and every
# connection are shut down (a shutdown wakes a worker waiting in a read, on
# the ring or in a thread alike: it reads EOF), each worker closes its
# socket, and once all have ended the program prints "bye" and exits 0.
require "socket"
require "io/wait"
require_relative "cli"

module Example
  class Server
    # prog: the program's name; help: what it does (after the usage line);
    # banner: the first line printed, with %d for the port ("listening on
    # 127.0.0.1:%d": the tests read the port from it); serve: called with
    # each connection's socket, returns when the connection is done.
    def self.main(prog, help, banner, &serve)
      usage = "usage: #{prog} [--threads] PORT [SECONDS]\n"
      cli = CLI.new(prog, usage, help +
        "--threads: a thread per connection and no scheduler (the baseline).\n" \
        "SIGINT, SIGTERM or SECONDS elapsed stops it.\n")
      o = cli.parse(ARGV, flags: { "--threads" => :threads }, args: %w[PORT SECONDS], optional: 1)
      new(cli, o, banner, serve).run
    end

    def initialize(cli, opts, banner, serve)
      @cli = cli
      @port = cli.port(opts[:port])
      @seconds = cli.seconds(opts[:seconds])
      @threads = opts[:threads]
      @banner = banner
      @serve = serve
      @lock = Mutex.new
      @conns = {}.compare_by_identity # socket -> true, while its worker runs
      @stopping = false
      @workers = ThreadGroup.new # --threads: the live connection threads
    end

    def run
      begin
        @listener = TCPServer.new("127.0.0.1", @port)
      rescue SystemCallError => e
        @cli.fail("cannot listen on 127.0.0.1:#{@port}: #{Example.strerror(e)}")
      end
      # A trap handler may run in the middle of any Ruby code: it only
      # writes the signal's number to a pipe that a worker waits on.
      @sig_r, @sig_w = IO.pipe
      %w[INT TERM].each do |name|
        Signal.trap(name) do |signo|
          @sig_w.write_nonblock(signo.chr)
        rescue IOError, SystemCallError
          nil # already stopping
        end
      end
      $stdout.write(format(@banner, @listener.local_address.ip_port), "\n")
      $stdout.flush
      if @threads
        [Thread.new { accept_loop }, Thread.new { stop_on_signal }].each(&:join)
        @workers.list.each(&:join)
      else
        Example.require_ringkit
        Fiber.set_scheduler(Ringkit::Scheduler.new)
        Fiber.schedule { accept_loop }
        Fiber.schedule { stop_on_signal }
        Fiber.set_scheduler(nil) # runs every fiber to completion, then closes the ring
      end
      [@listener, @sig_r, @sig_w].each(&:close)
      puts "bye"
    end

    private

    def accept_loop
      until @stopping
        begin
          sock = @listener.accept
        rescue IOError, SystemCallError => e
          break if @stopping

          $stderr.write("#{@cli.prog}: accept: #{Example.strerror(e)}\n") # EMFILE or the like
          sleep 0.1
          next
        end
        if @lock.synchronize { @conns[sock] = true unless @stopping }
          start(sock)
        else
          sock.close
        end
      end
    end

    # A method of its own: a block made in accept_loop would share its
    # variable sock with every later connection.
    def start(sock)
      return Fiber.schedule { connection(sock) } unless @threads

      @workers.add(Thread.new { connection(sock) })
    end

    def connection(sock)
      @serve.call(sock)
    rescue IOError, SystemCallError
      nil # reset by the peer, or shut down by a stop
    ensure
      @lock.synchronize { @conns.delete(sock) }
      sock.close
    end

    def stop_on_signal
      ready = @seconds ? @sig_r.wait_readable(@seconds) : @sig_r.wait_readable
      why = ready ? "signal #{@sig_r.read_nonblock(1).ord}" : "#{format("%g", @seconds)} s elapsed"
      conns = @lock.synchronize do
        @stopping = true
        @conns.keys
      end
      puts "stopping: #{why}"
      ([@listener] + conns).each do |s|
        s.shutdown(Socket::SHUT_RDWR)
      rescue IOError, SystemCallError
        nil # closed meanwhile
      end
    end
  end
end
