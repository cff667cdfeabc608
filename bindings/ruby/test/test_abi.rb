# frozen_string_literal: true
# The binding's function table against the ABI listing (doc/abi.json): every
# function it declares has exactly the listed libffi types, so a changed
# signature fails here instead of truncating an int64 at run time.
require "helper"
require "json"

class TestAbi < Test::Unit::TestCase
  include RingkitTest

  LISTING = JSON.parse(File.read(File.join(SRC, "doc", "abi.json")))

  def test_every_declared_function_matches_the_listing
    listed = LISTING["functions"].to_h { |f| [f["name"].to_sym, f] }
    Ringkit::Native::SIGNATURES.each do |name, (ret, params)|
      f = listed[name]
      assert_not_nil f, "#{name} is not in doc/abi.json"
      assert_equal f["returns"]["ffi"], ret, "#{name} returns"
      assert_equal f["params"].map { |p| p["ffi"] }, params, "#{name} params"
    end
  end

  def test_the_record_layout_is_the_listed_rk_cqe
    cqe = LISTING["structs"].find { |s| s["name"] == "rk_cqe" }
    assert_equal Ringkit::Ring::RECORD, cqe["size"]
    offsets = cqe["fields"].map { |f| [f["name"], f["offset"], f["ffi"]] }
    assert_equal [["id", 0, "sint64"], ["res", 8, "sint32"], ["flags", 12, "uint32"]], offsets
    packed = [-5, -62, 7].pack("q<l<L<")
    assert_equal [[-5, -62, 7]], Ringkit::Ring.unpack(packed)
  end

  def test_constants_come_from_the_library
    assert_operator Ringkit::CONSTANTS.size, :>, 100
    (LISTING["constants"] & Ringkit::CONSTANTS.keys).each do |name|
      assert_true Ringkit::C.const_defined?(name), name
    end
    assert_equal Errno::ETIME::Errno, Ringkit::C::ETIME
  end

  def test_a_missing_library_names_the_paths_tried
    lib = File.expand_path("../lib", __dir__)
    out = IO.popen({ "RINGKIT_LIB" => "/nonexistent/libringkit.so.0" },
                   [RbConfig.ruby, "-I", lib, "-e", "begin; require 'ringkit'; rescue LoadError => e; " \
                                                    "puts e.class, e.message; end"], &:read)
    assert_match(/Ringkit::LoadError/, out)
    assert_match(%r{/nonexistent/libringkit\.so\.0}, out)
  end
end
