#pragma once
/// \file Access control lists in shadowsocks-libev's file format, with shadowsocks-rust's
/// name rules. A file has sections, each a header line and rules, one a line:
///
///     # comment
///     [proxy_all]          (or [accept_all]) the default: proxy / accept what no list names
///     [bypass_all]         (or [reject_all]) the default: bypass / reject it
///     [bypass_list]        (or [black_list]) rules of what goes directly / is refused
///     [proxy_list]         (or [white_list]) rules of what goes through the server / is let in
///     [outbound_block_list] rules of targets ss-server never connects to
///
/// and a rule is an IPv4 or IPv6 address, a network in CIDR notation (`10.0.0.0/8`), a name
/// with its subdomains (`||example.com`), exactly one name (`|example.com`), or otherwise a
/// regular expression searched for in host names (RE2 syntax, case-insensitive). Rules before
/// any list header belong to the bypass list, as in libev. Names are compared without regard
/// to case (DNS names are case-insensitive). Matching is by hash sets, one per prefix length,
/// for networks; hash sets for names; one RE2::Set per list for the expressions.

#include <array>
#include <bitset>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <unordered_set>
#include <vector>

#include "shadowsocks/codec/address.hpp"
#include "shadowsocks/codec/errc.hpp"

namespace ss {

/// One list of an ACL: networks, names and expressions.
class acl_rules {
 public:
  acl_rules();
  ~acl_rules();
  acl_rules(acl_rules&&) noexcept;
  acl_rules& operator=(acl_rules&&) noexcept;

  /// True when the IPv4 address is in one of the networks.
  bool contains(const target_address::ipv4_bytes& ip) const noexcept;
  /// True when the IPv6 address is in one of the networks (an IPv4-mapped one is tested as
  /// IPv4).
  bool contains(const target_address::ipv6_bytes& ip) const noexcept;
  /// True when a name rule or an expression matches `host` (any case).
  bool matches_name(std::string_view host) const;
  /// The address or name of `t` (its port plays no part).
  bool matches(const target_address& t) const;
  /// True when the list has network rules.
  bool has_networks() const noexcept { return v4_present_.any() || v6_present_.any(); }
  /// Number of rules of each kind (networks, names, expressions), for logs.
  std::size_t networks() const noexcept { return network_count_; }
  std::size_t names() const noexcept { return exact_.size() + suffixes_.size(); }
  std::size_t expressions() const noexcept { return patterns_.size(); }

 private:
  friend class acl_builder;
  struct v6_key {
    std::uint64_t high = 0;
    std::uint64_t low = 0;
    friend bool operator==(const v6_key&, const v6_key&) = default;
  };
  struct v6_hash {
    std::size_t operator()(const v6_key& k) const noexcept {
      return std::hash<std::uint64_t>()(k.high * 0x9E3779B97F4A7C15ULL ^ k.low);
    }
  };
  std::array<std::unordered_set<std::uint32_t>, 33> v4_;  // by prefix length
  std::bitset<33> v4_present_;
  std::array<std::unordered_set<v6_key, v6_hash>, 129> v6_;
  std::bitset<129> v6_present_;
  std::size_t network_count_ = 0;
  std::unordered_set<std::string> exact_;     // |name
  std::unordered_set<std::string> suffixes_;  // ||name
  std::vector<std::string> patterns_;
  struct expression_set;                         // RE2::Set, in acl.cpp
  std::unique_ptr<expression_set> expressions_;  // compiled patterns_, or null when none
};

/// A parsed ACL file.
struct acl {
  /// What no list decides: `[proxy_all]`/`[accept_all]` (proxy, the default without either)
  /// or `[bypass_all]`/`[reject_all]` (bypass); the last one given counts, as in libev.
  enum class fallback : std::uint8_t { proxy, bypass };
  fallback mode = fallback::proxy;
  acl_rules bypass;          ///< `[bypass_list]` / `[black_list]`.
  acl_rules proxy;           ///< `[proxy_list]` / `[white_list]`.
  acl_rules outbound_block;  ///< `[outbound_block_list]`.

  /// ss-local's decision for a target, as libev takes it: the bypass list first, then the
  /// proxy list, then the default.
  enum class route : std::uint8_t {
    proxy,    ///< Through the server.
    bypass,   ///< Directly from ss-local.
    resolve,  ///< A name no rule names, while network rules could decide for its
              ///< addresses: resolve it and decide by `route_for` each address.
  };
  /// The route of `t`. For a name no name rule matches: `resolve` when the list that would
  /// overturn the default has networks, else the default (no name is resolved locally that
  /// need not be).
  route route_for(const target_address& t) const;
  /// ss-server: true when a client from `ip` is refused (`[accept_all]`: when the black list
  /// has it; `[reject_all]`: unless the white list has it and the black list does not).
  bool client_refused(const target_address& ip) const;
  /// ss-server: true when `t` (a name or an address) is in `[outbound_block_list]`.
  bool outbound_blocked(const target_address& t) const { return outbound_block.matches(t); }
};

/// Parses the ACL `text`; a problem is "SOURCE:LINE: what" (an unknown section, a bad network,
/// an expression RE2 cannot compile, an empty name rule).
result<acl, problem> parse_acl(std::string_view text, std::string_view source);

/// Reads and parses the file at `path`; a read error names the file.
result<acl, problem> load_acl_file(const std::string& path);

}  // namespace ss
