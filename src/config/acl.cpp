#include "shadowsocks/config/acl.hpp"

#include <re2/re2.h>
#include <re2/set.h>

#include <algorithm>
#include <charconv>

#include "shadowsocks/codec/text.hpp"
#include "shadowsocks/config/config.hpp"

namespace ss {

namespace {

std::string lowered(std::string_view s) {
  std::string out(s);
  std::transform(out.begin(), out.end(), out.begin(), [](char c) {
    return c >= 'A' && c <= 'Z' ? static_cast<char>(c - 'A' + 'a') : c;
  });
  return out;
}

std::string_view trimmed(std::string_view s) {
  auto space = [](char c) { return c == ' ' || c == '\t' || c == '\r' || c == '\n'; };
  while (!s.empty() && space(s.front()))
    s.remove_prefix(1);
  while (!s.empty() && space(s.back()))
    s.remove_suffix(1);
  return s;
}

std::uint32_t v4_value(const target_address::ipv4_bytes& ip) {
  return (std::uint32_t{ip[0]} << 24) | (std::uint32_t{ip[1]} << 16) | (std::uint32_t{ip[2]} << 8) |
         ip[3];
}

std::uint32_t v4_mask(unsigned len) {
  return len == 0 ? 0 : ~std::uint32_t{0} << (32 - len);
}

std::pair<std::uint64_t, std::uint64_t> v6_value(const target_address::ipv6_bytes& ip) {
  std::uint64_t high = 0;
  std::uint64_t low = 0;
  for (int i = 0; i < 8; ++i) {
    high = (high << 8) | ip[static_cast<std::size_t>(i)];
    low = (low << 8) | ip[static_cast<std::size_t>(i + 8)];
  }
  return {high, low};
}

std::pair<std::uint64_t, std::uint64_t> v6_masked(std::pair<std::uint64_t, std::uint64_t> v,
                                                  unsigned len) {
  auto mask = [](unsigned bits) { return bits == 0 ? 0 : ~std::uint64_t{0} << (64 - bits); };
  if (len <= 64) return {v.first & mask(len), 0};
  return {v.first, v.second & mask(len - 64)};
}

bool is_v4_mapped(const target_address::ipv6_bytes& ip) {
  return std::all_of(ip.begin(), ip.begin() + 10, [](std::uint8_t b) { return b == 0; }) &&
         ip[10] == 0xFF && ip[11] == 0xFF;
}

// `s` in double quotes (appended piecewise: GCC 12 at -O3 warns, wrongly, on "x" + string).
std::string quoted(std::string_view s) {
  std::string out;
  out.reserve(s.size() + 2);
  out += '"';
  out.append(s);
  out += '"';
  return out;
}

}  // namespace

struct acl_rules::expression_set {
  explicit expression_set(const RE2::Options& options) : set(options, RE2::UNANCHORED) {}
  RE2::Set set;
};

// Fills the lists of an `acl` while a file is read.
class acl_builder {
 public:
  // Adds a network (or an address: `len` = its width); false when `len` is too long.
  static bool add_network(acl_rules& r, const target_address& a, unsigned len) {
    if (a.type() == address_type::ipv4) {
      if (len > 32) return false;
      r.v4_[len].insert(v4_value(a.v4()) & v4_mask(len));
      r.v4_present_.set(len);
    } else {
      if (len > 128) return false;
      auto m = v6_masked(v6_value(a.v6()), len);
      r.v6_[len].insert({m.first, m.second});
      r.v6_present_.set(len);
    }
    ++r.network_count_;
    return true;
  }
  static void add_exact(acl_rules& r, std::string_view name) { r.exact_.insert(lowered(name)); }
  static void add_suffix(acl_rules& r, std::string_view name) { r.suffixes_.insert(lowered(name)); }
  // Adds an expression, or RE2's error when it does not compile.
  static result<void, problem> add_pattern(acl_rules& r, std::string_view pattern) {
    RE2::Options options;
    options.set_case_sensitive(false);
    options.set_log_errors(false);
    RE2 single(re2::StringPiece(pattern.data(), pattern.size()), options);
    if (!single.ok()) return problem{single.error()};
    r.patterns_.emplace_back(pattern);
    return {};
  }
  // Compiles the expressions of `r` into one set; false when RE2 runs out of its memory budget.
  static bool compile(acl_rules& r) {
    if (r.patterns_.empty()) return true;
    RE2::Options options;
    options.set_case_sensitive(false);
    options.set_log_errors(false);
    options.set_max_mem(std::int64_t{256} << 20);
    auto set = std::make_unique<acl_rules::expression_set>(options);
    for (const auto& p : r.patterns_) {
      std::string error;
      if (set->set.Add(p, &error) < 0) return false;
    }
    if (!set->set.Compile()) return false;
    r.expressions_ = std::move(set);
    return true;
  }
};

acl_rules::acl_rules() = default;
acl_rules::~acl_rules() = default;
acl_rules::acl_rules(acl_rules&&) noexcept = default;
acl_rules& acl_rules::operator=(acl_rules&&) noexcept = default;

bool acl_rules::contains(const target_address::ipv4_bytes& ip) const noexcept {
  if (v4_present_.none()) return false;
  auto v = v4_value(ip);
  for (unsigned len = 0; len <= 32; ++len) {
    if (v4_present_.test(len) && v4_[len].count(v & v4_mask(len)) != 0) return true;
  }
  return false;
}

bool acl_rules::contains(const target_address::ipv6_bytes& ip) const noexcept {
  if (is_v4_mapped(ip)) return contains(target_address::ipv4_bytes{ip[12], ip[13], ip[14], ip[15]});
  if (v6_present_.none()) return false;
  auto v = v6_value(ip);
  for (unsigned len = 0; len <= 128; ++len) {
    if (!v6_present_.test(len)) continue;
    auto m = v6_masked(v, len);
    if (v6_[len].count({m.first, m.second}) != 0) return true;
  }
  return false;
}

bool acl_rules::matches_name(std::string_view host) const {
  if (exact_.empty() && suffixes_.empty() && !expressions_) return false;
  auto name = lowered(host);
  if (!name.empty() && name.back() == '.') name.pop_back();  // the root: "example.com."
  if (exact_.count(name) != 0) return true;
  if (!suffixes_.empty()) {
    // The name itself, then each parent domain: "a.b.c", "b.c", "c".
    for (std::string_view rest = name; !rest.empty();) {
      if (suffixes_.count(std::string(rest)) != 0) return true;
      auto dot = rest.find('.');
      if (dot == std::string_view::npos) break;
      rest.remove_prefix(dot + 1);
    }
  }
  return expressions_ && expressions_->set.Match(name, nullptr);
}

bool acl_rules::matches(const target_address& t) const {
  switch (t.type()) {
    case address_type::ipv4:
      return contains(t.v4());
    case address_type::ipv6:
      return contains(t.v6());
    case address_type::domain:
      return matches_name(t.name());
  }
  return false;
}

acl::route acl::route_for(const target_address& t) const {
  if (bypass.matches(t)) return route::bypass;
  if (proxy.matches(t)) return route::proxy;
  if (t.type() == address_type::domain) {
    // The networks of the list that would overturn the default can only judge the name's
    // addresses: resolving it locally is worth it only then.
    const auto& other = mode == fallback::proxy ? bypass : proxy;
    if (other.has_networks()) return route::resolve;
  }
  return mode == fallback::proxy ? route::proxy : route::bypass;
}

bool acl::client_refused(const target_address& ip) const {
  if (mode == fallback::proxy) return bypass.matches(ip);
  return bypass.matches(ip) || !proxy.matches(ip);
}

namespace {

// A `[section]` line: sets the default or the list rules go to; false for an unknown name.
bool apply_section(std::string_view line, acl& out, acl_rules*& list) {
  if (line == "[proxy_all]" || line == "[accept_all]") {
    out.mode = acl::fallback::proxy;
  } else if (line == "[bypass_all]" || line == "[reject_all]") {
    out.mode = acl::fallback::bypass;
  } else if (line == "[bypass_list]" || line == "[black_list]") {
    list = &out.bypass;
  } else if (line == "[proxy_list]" || line == "[white_list]") {
    list = &out.proxy;
  } else if (line == "[outbound_block_list]") {
    list = &out.outbound_block;
  } else {
    return false;
  }
  return true;
}

// Adds the rule `line` to `list`, or says what is wrong with it.
result<void, problem> add_rule(std::string_view line, acl_rules& list) {
  if (line.starts_with("|")) {
    bool subdomains = line.starts_with("||");
    auto name = line.substr(subdomains ? 2 : 1);
    if (name.empty() || name.find_first_of(" \t/") != std::string_view::npos) {
      return problem{quoted(line) + " does not name a host"};
    }
    if (name.back() == '.') name.remove_suffix(1);
    if (subdomains) {
      acl_builder::add_suffix(list, name);
    } else {
      acl_builder::add_exact(list, name);
    }
    return {};
  }
  // An address, or a network: address/length.
  auto slash = line.find('/');
  auto literal = target_address::from_host(line.substr(0, slash), 0);
  if (literal && literal->type() != address_type::domain) {
    unsigned width = literal->type() == address_type::ipv4 ? 32 : 128;
    unsigned len = width;
    if (slash != std::string_view::npos) {
      auto digits = line.substr(slash + 1);
      auto [end, ec] = std::from_chars(digits.data(), digits.data() + digits.size(), len);
      if (ec != std::errc() || end != digits.data() + digits.size() || digits.empty() ||
          len > width) {
        return problem{quoted(line) + ": the prefix length must be 0 to " + std::to_string(width)};
      }
    }
    acl_builder::add_network(list, *literal, len);
    return {};
  }
  auto added = acl_builder::add_pattern(list, line);
  if (added) return {};
  return problem{quoted(line) +
                 " is neither an address, a network, a name rule (||name, |name) nor a regular "
                 "expression RE2 takes: " +
                 added.error().message};
}

}  // namespace

result<acl, problem> parse_acl(std::string_view text, std::string_view source) {
  acl out;
  acl_rules* list = &out.bypass;  // rules before any list header: the bypass list, as libev
  std::size_t number = 0;
  auto at_line = [&source, &number](const std::string& what) {
    return problem{std::string(source) + ":" + std::to_string(number) + ": " + what};
  };
  while (!text.empty()) {
    auto eol = text.find('\n');
    auto line = trimmed(text.substr(0, eol));
    text.remove_prefix(eol == std::string_view::npos ? text.size() : eol + 1);
    ++number;
    if (line.empty() || line.front() == '#') continue;
    if (line.front() == '[' && line.back() == ']') {
      if (apply_section(line, out, list)) continue;
      return at_line(std::string("unknown section ").append(line) +
                     " (known: [proxy_all], [bypass_all], [accept_all], [reject_all], "
                     "[bypass_list], [proxy_list], [black_list], [white_list], "
                     "[outbound_block_list])");
    }
    if (auto added = add_rule(line, *list); !added) return at_line(added.error().message);
  }
  for (auto* rules : {&out.bypass, &out.proxy, &out.outbound_block}) {
    if (!acl_builder::compile(*rules)) {
      return problem{std::string(source) +
                     ": the regular expressions of a list need more than RE2's 256 MiB"};
    }
  }
  return out;
}

result<acl, problem> load_acl_file(const std::string& path) {
  auto text = read_text_file(path);
  if (!text) return problem{"cannot read " + path + ": " + text.error().message};
  return parse_acl(*text, path);
}

}  // namespace ss
