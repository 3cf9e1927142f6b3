// The man pages' generated part: Markdown of docs/configuration.md as roff, and the key table
// of that document read back.
#include <gtest/gtest.h>

#include "manual.hpp"

namespace ss {
namespace {

TEST(Manual, MarkdownBecomesRoff) {
  EXPECT_EQ(roff_from_markdown("a `-s` b"), "a \\fB\\-s\\fR b");
  EXPECT_EQ(roff_from_markdown("**bold** and *em*"), "\\fBbold\\fR and \\fIem\\fR");
  EXPECT_EQ(roff_from_markdown("see [acl.md](acl.md#x), [b]"), "see acl.md, [b]");
  EXPECT_EQ(roff_from_markdown("`\\|\\|name` a \\| b"), "\\fB||name\\fR a | b");
  EXPECT_EQ(roff_from_markdown("C:\\dir"), "C:\\edir");
  EXPECT_EQ(roff_from_markdown(".hidden"), "\\&.hidden");
  EXPECT_EQ(roff_from_markdown("a * b"), "a * b");
}

TEST(Manual, TheKeyTableIsReadByKeyAndByFlag) {
  auto docs = parse_key_docs(
      "# Config\n\n| JSON key | flag | default | meaning |\n| --- | --- | --- | --- |\n"
      "| `server_port` | `-p` | required | The port; `a\\|b`. |\n"
      "| | `-f` | | Background. |\n\nafter | the table\n");
  ASSERT_EQ(docs.size(), 2u);
  EXPECT_EQ(docs.at("server_port").default_value, "required");
  EXPECT_EQ(docs.at("server_port").meaning, "The port; `a\\|b`.");
  EXPECT_EQ(docs.at("-f").meaning, "Background.");
}

TEST(Manual, EveryFlagOfTheProgramHasAnEntry) {
  const auto& p = profile_of(program::local);
  auto page = manual_options(p, {});
  EXPECT_NE(page.find(".B \\-\\-no\\-http\nDo not serve HTTP"), std::string::npos) << page;
  EXPECT_NE(page.find(".BI \\-l \" NUMBER\""), std::string::npos);
  EXPECT_EQ(page.find(".B \\-\\-print\\-url\n"), std::string::npos);  // ss-server's
  EXPECT_NE(page.find(".SH CONFIGURATION KEYS"), std::string::npos);
}

}  // namespace
}  // namespace ss
