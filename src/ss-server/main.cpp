// ss-server: see ss::run_app.
#include "shadowsocks/app.hpp"

int main(int argc, char** argv) {
  return ss::run_app(ss::app_kind::server, argc, argv);
}
