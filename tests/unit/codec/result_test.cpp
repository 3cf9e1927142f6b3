#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "shadowsocks/codec/errc.hpp"

namespace ss {
namespace {

result<int> half(int n) {
  if (n % 2 != 0) return errc::bad_address_type;
  return n / 2;
}

result<std::string, problem> named(const std::string& name) {
  if (name.empty()) return problem{"the name is empty"};
  return "hello, " + name;
}

result<void, problem> check(bool good) {
  if (!good) return problem{"not good"};
  return {};
}

TEST(Result, AValueOrAnErrorCodeFromOurEnum) {
  auto even = half(8);
  ASSERT_TRUE(even.has_value());
  EXPECT_EQ(*even, 4);
  EXPECT_FALSE(even.error());  // an empty code while a value is held
  auto odd = half(7);
  ASSERT_FALSE(odd);
  EXPECT_EQ(odd.error(), make_error_code(errc::bad_address_type));
  EXPECT_EQ(odd.error().category().name(), std::string("shadowsocks"));
}

TEST(Result, AValueOrAProblemInWords) {
  auto good = named("you");
  ASSERT_TRUE(good);
  EXPECT_EQ(*good, "hello, you");
  EXPECT_EQ(good->size(), 10u);
  EXPECT_EQ(good.error().message, "");
  auto bad = named("");
  ASSERT_FALSE(bad);
  EXPECT_EQ(bad.error().message, "the name is empty");
  // A string value is a value, even when it reads like a problem.
  result<std::string, problem> text = std::string("not a problem");
  EXPECT_TRUE(text.has_value());
  EXPECT_EQ(std::move(text).value(), "not a problem");
}

TEST(Result, DoneOrWhyNot) {
  EXPECT_TRUE(check(true));
  EXPECT_EQ(check(true).error().message, "");
  auto failed = check(false);
  ASSERT_FALSE(failed.has_value());
  EXPECT_EQ(failed.error().message, "not good");
}

TEST(Result, ALayersOwnErrorType) {
  using checked = result<std::string, std::vector<std::string>>;
  checked every = std::vector<std::string>{"a: bad", "b: worse"};
  ASSERT_FALSE(every);
  EXPECT_EQ(every.error().size(), 2u);
  checked fine = std::string("fine");
  EXPECT_TRUE(fine.error().empty());
}

}  // namespace
}  // namespace ss
