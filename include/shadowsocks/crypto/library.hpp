#pragma once
/// \file How the programs start OpenSSL.

namespace ss {

/// Starts OpenSSL for a program, before its first use of it: the system's openssl.cnf is not
/// read unless the environment names one in `OPENSSL_CONF`. Nothing in it applies to
/// Shadowsocks (it sets TLS policy, which the one TLS client, SIP008's, sets for itself), and
/// reading it runs OpenSSL's configuration modules: about 0.3 MiB more resident at start
/// (docs/performance.md). Later calls do nothing.
void start_openssl();

}  // namespace ss
