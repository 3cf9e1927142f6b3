#pragma once
/// \file The table of configuration keys: one entry per key drives the JSON parser, the
/// command-line flags and `--help`, merging flags over the file, what a reload may change, the
/// validation into a typed `config`, and the key list in docs/configuration.md (a test checks
/// the document against this table). Adding a key is one entry here plus its validation.

#include <array>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

namespace ss {

/// The executables; a set of them is a bit mask (`program_set`).
enum class program : std::uint8_t { local = 1, server = 2, tunnel = 4, redir = 8 };
/// Several programs: `local | tunnel`.
using program_set = std::uint8_t;
/// Every program.
inline constexpr program_set all_programs = 1 | 2 | 4 | 8;
/// ss-local, ss-tunnel and ss-redir: the clients of ss-server.
inline constexpr program_set client_programs = 1 | 4 | 8;
/// True when `set` holds `p`.
constexpr bool includes(program_set set, program p) noexcept {
  return (set & static_cast<std::uint8_t>(p)) != 0;
}
/// In a key's `programs`, beside `server`: the key belongs to ss-manager, which is configured
/// as ss-server is (its `program` is `server`), and its flag is not on ss-server's command line.
inline constexpr program_set manager_only = 16;
/// True when the command line of `p` (of ss-manager when `manager`) takes the flags of a key
/// whose `programs` are `set`: ss-manager takes ss-server's and its own.
constexpr bool offered_on(program_set set, program p, bool manager) noexcept {
  return includes(set, p) && (manager || (set & manager_only) == 0);
}

/// The JSON and flag type of a key's value.
enum class value_type : std::uint8_t {
  string,       ///< JSON string; a flag's text.
  integer,      ///< JSON number or numeric string (as libev); a flag's decimal text.
  boolean,      ///< JSON true/false; a switch flag.
  string_list,  ///< JSON string or list of strings; a flag that may be repeated.
  count,        ///< Flag only: how many times it was given (`-vv`).
  user_list,    ///< JSON only: a list of {"name": ..., "password": ...} objects.
  server_list,  ///< JSON only: a list of objects, each held as its JSON text (`servers`).
  port_map,     ///< JSON only: {"port": "password", ...}, held as `raw_user`s (`port_password`).
  object,       ///< JSON only: an object of settings, held as its JSON text (`balancer`).
};

/// Where a key may be set besides the top level, and whether a server entry inherits the top
/// level's value: a bit mask (`key_scope`). A key with none of the bits is the process's alone
/// (`workers`, `acl`, `metrics`, ...): set at the top level, refused in an entry.
using key_scope = std::uint8_t;
/// None of the bits below: the process's alone.
inline constexpr key_scope process_only = 0;
/// ss-server: a `servers` entry, one port, may set it (`method`, `timeout`, ...).
inline constexpr key_scope per_port = 1;
/// A client's server (a `servers` entry, a SIP008 one) may set it (`method`, `plugin`, ...).
inline constexpr key_scope per_server = 2;
/// A `servers` entry of ss-server does not inherit the top level's value: it is the port's
/// own (`server_port`, `password`) or a list of them (`servers`, `port_password`).
inline constexpr key_scope own_per_port = 4;
/// A client's server entry does not inherit the top level's value: it belongs to one server
/// (`server`, `plugin`) or to the list as a whole (`balancer`, `online_config`).
inline constexpr key_scope own_per_server = 8;

/// One entry of a `users` list as given (or of `port_password`: the port as written, and its
/// password).
struct raw_user {
  std::string name;      ///< The user's name (the port).
  std::string password;  ///< The user's key, base64 (the port's password).
  bool operator==(const raw_user&) const = default;
};

/// A value as given, before validation.
using raw_value =
    std::variant<std::string, std::int64_t, bool, std::vector<std::string>, std::vector<raw_user>>;

/// One key's value as given and where it came from, for messages.
struct raw_field {
  std::optional<raw_value> value;  ///< Empty when not given.
  std::string given_as;            ///< The JSON key or flag that gave it ("server_port", "-p").
  /// Sets the value from `source`. (Out of line: inlined, GCC 12 at -O3 reports the moved
  /// variant as maybe-uninitialized, a false positive.)
  void set(raw_value v, std::string source);
  /// The value if it is given and of type `T`.
  template <class T>
  const T* get() const noexcept {
    return value ? std::get_if<T>(&*value) : nullptr;
  }
};

/// One command-line flag of a key.
struct flag_spec {
  std::string_view name;  ///< "-p", "--fast-open"; empty: no flag.
  /// For a switch (a flag without a value): the value it gives the key, as JSON would write
  /// it ("true", "tcp_and_udp"). Empty for a flag that takes a value.
  std::string_view sets = {};
  /// The flag's `--help` text where it is not the key's: the second switch of a key, and a
  /// switch that turns the key off (`--no-http`), which says what it turns off.
  std::string_view help = {};
};

class raw_config;
struct config;
struct config_error;

/// What a key's validation works with.
struct validation {
  const raw_config& raw;  ///< Every key as given (the server URL expanded).
  program prog;           ///< The program being configured.
  /// The server keys must be given: false when a broken `server_url` stands for them (it is
  /// reported already), and on ss-server when `servers` or `port_password` names the servers.
  bool server_keys_required;
  unsigned hardware_threads;           ///< The default of `workers`.
  std::vector<config_error>& errors;   ///< Problems found, each naming its key or flag.
  std::vector<std::string>* warnings;  ///< Allowed but unwise; null: not reported.
};

/// One configuration key.
struct key_spec {
  std::string_view name;           ///< The JSON key (and the key's name in messages and docs).
  bool in_json;                    ///< False for flag-only keys (`-v`).
  value_type type;                 ///< How JSON and flags give it.
  std::array<flag_spec, 2> flags;  ///< Its flags (`mode` has two switches, -u and -U).
  /// The programs it applies to: its flags are offered and its value validated there. JSON
  /// takes every key in every program and ignores the others, as libev does.
  program_set programs;
  program_set fixed_in;          ///< Where a running process keeps it until a restart.
  std::string_view help;         ///< The `--help` text.
  std::string_view server_help;  ///< ss-server's `--help` text when it differs; else empty.
  key_scope scope;               ///< Where besides the top level it may be set (see above).
  /// Checks the key's value (or its absence) and fills its part of `c`; nullptr for keys that
  /// stand for others (`server_url` is expanded before validation; `servers` and
  /// `port_password` are configurations of their own, validated after the rest).
  void (*validate)(const validation& v, const raw_field& f, config& c);
};

/// The warning a password of `size` characters given as `given_as` deserves (a 2017 method's,
/// which a recorded session lets an attacker test guesses against offline), or empty.
std::optional<std::string> short_password_warning(std::string_view given_as, std::size_t size);

/// The table, in the order of validation and of `--help`.
std::span<const key_spec> config_keys() noexcept;
/// The key named `name`, or nullptr.
const key_spec* find_key(std::string_view name) noexcept;

/// Every key's value as given; none given at first.
class raw_config {
 public:
  /// One empty field per key of the table.
  raw_config();
  /// The field of `key`, which must be in the table (else std::logic_error).
  raw_field& operator[](std::string_view key);
  /// The field of `key`, which must be in the table (else std::logic_error).
  const raw_field& operator[](std::string_view key) const;
  /// The fields, in the order of `config_keys()`.
  std::span<raw_field> fields() noexcept { return fields_; }
  /// The fields, in the order of `config_keys()`.
  std::span<const raw_field> fields() const noexcept { return fields_; }

 private:
  static std::size_t index_of(std::string_view key);  // in the table; else std::logic_error
  std::vector<raw_field> fields_;
};

}  // namespace ss
