# Where `meson install` puts the Ruby library: the directory on this ruby's
# own $LOAD_PATH that lies under the install prefix and holds no version
# (Debian's ruby reads /usr/local/lib/site_ruby and /usr/lib/ruby/vendor_ruby),
# so `require "ringkit"` works after `ninja install` with no RUBYLIB. Prints
# the prefix's lib/site_ruby when there is none such: it is then the
# caller's to add.
#
#   ruby sitedir.rb PREFIX
prefix = File.expand_path(ARGV.fetch(0))
dir = $LOAD_PATH.find do |d|
  d.start_with?(prefix + "/") && %w[site_ruby vendor_ruby].include?(File.basename(d))
end
puts dir || File.join(prefix, "lib", "site_ruby")
