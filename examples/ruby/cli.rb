# frozen_string_literal: true
#
# The command line of the Ruby examples, in one place: options before or
# between the positional arguments, numbers that are decimal, whole and in
# range, and a usage error that names the bad argument and exits 2 (as the
# C, Lua and Python examples do). --help prints the usage on stdout, exit 0.
module Example
  # Parses argv against a spec:
  #   flags:   option names without a value ("--threads" => :threads)
  #   numbers: options with a whole decimal value ("--depth" => [:depth, lo, hi])
  #   args:    the positional arguments' names, required ones first
  #   optional: how many of the last args may be left out
  # Returns a Hash by symbol (flags false, numbers and optional args nil
  # unless given) and the positional arguments by their downcased names.
  class CLI
    attr_reader :prog

    def initialize(prog, usage, help)
      @prog = prog
      @usage = usage
      @help = help
    end

    def parse(argv, flags: {}, numbers: {}, args: [], optional: 0)
      out = flags.values.to_h { |k| [k, false] }
      numbers.each_value { |k, _lo, _hi| out[k] = nil }
      given = []
      i = 0
      while i < argv.size
        a = argv[i]
        if ["--help", "-h"].include?(a)
          $stdout.write(@usage, @help)
          exit 0
        elsif flags.key?(a)
          out[flags[a]] = true
        elsif numbers.key?(a)
          key, lo, hi = numbers[a]
          i += 1
          bad("#{a} needs a value") if i == argv.size
          out[key] = number(a, argv[i], lo, hi)
        elsif a.start_with?("--")
          bad("unknown option '#{a}'")
        elsif given.size == args.size
          bad(args.size.zero? ? "unexpected argument '#{a}'" : "too many arguments")
        else
          given << a
        end
        i += 1
      end
      need = args.size - optional
      bad("missing #{args[given.size...need].join(' and ')}") if given.size < need
      args.each_with_index { |name, j| out[name.downcase.to_sym] = given[j] }
      out
    end

    # A whole decimal number in lo..hi (Integer() alone takes "0x50", "1_0"
    # and " 80").
    def number(what, s, lo, hi)
      v = s.match?(/\A[0-9]+\z/) ? s.to_i : nil
      bad("#{what} '#{s}': expected a decimal number from #{lo} to #{hi}") unless v&.between?(lo, hi)
      v
    end

    # PORT: 0 asks the kernel for a free port.
    def port(s) = number("port", s, 0, 65_535)

    # A positive, finite number of seconds, or nil when s is nil.
    def seconds(s)
      return nil if s.nil?

      v = Float(s, exception: false)
      bad("SECONDS '#{s}': expected a positive number") unless v&.positive? && v.finite?
      v
    end

    def bad(message)
      $stderr.write("#{@prog}: #{message}\n", @usage)
      exit 2
    end

    # A failure that is not a usage error: the message names the file, exit 1.
    def fail(message)
      $stderr.write("#{@prog}: #{message}\n")
      exit 1
    end
  end

  # The words of an errno ("No such file or directory"), without the call
  # and path Ruby appends to SystemCallError#message.
  def self.strerror(err)
    SystemCallError.new(nil, err.errno).message
  end

  # require "ringkit", from the checkout this example is in when it is not
  # on the load path (ruby -I bindings/ruby/lib, RUBYLIB) already.
  def self.require_ringkit
    require "ringkit"
  rescue ::LoadError
    $LOAD_PATH.unshift(File.expand_path("../../bindings/ruby/lib", __dir__))
    require "ringkit"
  end
end
