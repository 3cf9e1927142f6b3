// The ss-manager protocol parser on any datagram: a command it accepts is well formed (a port
// from 1 to 65535, an add with a password), and the replies made from it read back as what
// they say (a stat reply parses back to the same traffic; a list is a JSON array).
#include <nlohmann/json.hpp>
#include <string_view>

#include "fuzz_support.hpp"
#include "shadowsocks/config/manager_protocol.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  namespace m = ss::manager;
  std::string_view in(reinterpret_cast<const char*>(data), size);
  auto p = m::parse(in);
  if (!p.cmd) {
    FUZZ_CHECK(!p.problem.empty());
    return 0;
  }
  FUZZ_CHECK(!p.reply_err);
  const auto& c = *p.cmd;
  if (c.what == m::verb::add || c.what == m::verb::remove) {
    FUZZ_CHECK(c.server.port >= 1);
    if (c.what == m::verb::add) {
      FUZZ_CHECK(!c.server.password.empty());
      auto list = m::format_list({{c.server.port, c.server.password, "aes-256-gcm"}});
      auto doc = nlohmann::json::parse(list, nullptr, false);
      FUZZ_CHECK(doc.is_array() && doc.size() == 1);
      FUZZ_CHECK(doc[0]["server_port"] == std::to_string(c.server.port));
    }
  }
  if (c.what == m::verb::stat) {
    auto again = m::parse(m::format_stat(c.traffic));
    FUZZ_CHECK(again.cmd && again.cmd->what == m::verb::stat);
    // JSON objects keep one value per key: compare as the reply states them.
    auto reparsed = m::parse(m::format_stat(again.cmd->traffic));
    FUZZ_CHECK(reparsed.cmd && reparsed.cmd->traffic == again.cmd->traffic);
  }
  return 0;
}
