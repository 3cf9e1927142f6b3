// ss-redir: see ss::run_program.
#include "shadowsocks/app/run.hpp"

int main(int argc, char** argv) {
  return ss::run_program(ss::program::redir, argc, argv);
}
