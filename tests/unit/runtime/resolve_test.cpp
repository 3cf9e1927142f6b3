// The address-family ordering behind ipv6_first (runtime layer).
#include "shadowsocks/runtime/resolve.hpp"

#include <gtest/gtest.h>

namespace ss {
namespace {

std::vector<tcp::endpoint> endpoints(std::initializer_list<const char*> addrs) {
  std::vector<tcp::endpoint> out;
  for (auto a : addrs)
    out.emplace_back(net::ip::make_address(a), 80);
  return out;
}

TEST(OrderEndpoints, Ipv4FirstByDefaultKeepingResolverOrder) {
  auto eps = endpoints({"::1", "10.0.0.2", "2001:db8::1", "10.0.0.1"});
  order_endpoints(eps, false);
  EXPECT_EQ(eps, endpoints({"10.0.0.2", "10.0.0.1", "::1", "2001:db8::1"}));
}

TEST(OrderEndpoints, Ipv6FirstWhenAsked) {
  auto eps = endpoints({"10.0.0.2", "::1", "10.0.0.1", "2001:db8::1"});
  order_endpoints(eps, true);
  EXPECT_EQ(eps, endpoints({"::1", "2001:db8::1", "10.0.0.2", "10.0.0.1"}));
}

TEST(OrderEndpoints, SingleFamilyUnchanged) {
  auto eps = endpoints({"10.0.0.3", "10.0.0.1"});
  order_endpoints(eps, true);
  EXPECT_EQ(eps, endpoints({"10.0.0.3", "10.0.0.1"}));
}

}  // namespace
}  // namespace ss
