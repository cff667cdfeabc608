# frozen_string_literal: true
#
# ringkit for Ruby through fiddle: the flat C ABI of libringkit, dlopened
# with no compiler in the loop, and Ringkit::Scheduler, a Fiber::Scheduler
# that does its IO with ring ops. See doc/backend-guide.md.
require_relative "ringkit/native"
require_relative "ringkit/region"
require_relative "ringkit/ring"
require_relative "ringkit/scheduler"
