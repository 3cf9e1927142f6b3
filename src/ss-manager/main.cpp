// ss-manager: see ss::run_manager.
#include "shadowsocks/app/run.hpp"

int main(int argc, char** argv) {
  return ss::run_manager(argc, argv);
}
