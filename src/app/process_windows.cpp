// Windows' side of process.hpp. There is no open-file limit to set, no user to switch to and
// no fork: `-a` and `-f` are refused when the configuration is validated, so only a caller
// that skipped validation reaches the refusals here.
#ifdef _WIN32

#include "process.hpp"

namespace ss {

result<void, problem> set_file_limit(std::size_t nofile) {
  if (nofile == 0) return {};
  return problem{"Windows has no open-file limit to set; ignored"};
}

result<void, problem> drop_privileges(const std::string& user) {
  if (user.empty()) return {};
  return problem{"-a: not available on Windows"};
}

result<void, problem> background::start(const std::string&, background&) {
  return problem{"not available on Windows"};
}

void background::ready(const char*, bool) {}

background::~background() = default;

}  // namespace ss

#endif  // _WIN32
