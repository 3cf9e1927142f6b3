// The 2022 edition's UDP packets (SIP022 3.2, 4.1) on hostile input, for the method chosen by
// the first byte: the separate header and body opened as a server and as a client never crash
// or yield unauthenticated bytes; and any payload behind an address seals and opens back.
#include <vector>

#include "fuzz_support.hpp"
#include "shadowsocks/codec/address.hpp"
#include "shadowsocks/crypto/udp_2022.hpp"

namespace {

struct keyed {
  ss::master_key key;
  ss::sip022::udp_codec codec;
  explicit keyed(ss::master_key k) : key(std::move(k)), codec(key) {}
};

keyed& method_for(std::uint8_t selector) {
  static std::vector<std::unique_ptr<keyed>> all = [] {
    std::vector<std::unique_ptr<keyed>> k;
    for (const auto& key : fuzz::keys_of(ss::edition::aead_2022))
      k.push_back(std::make_unique<keyed>(key));
    return k;
  }();
  return *all[selector % all.size()];
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size == 0) return 0;
  auto& m = method_for(data[0]);
  ss::bytes_view in(data + 1, size - 1);

  std::vector<std::uint8_t> packet(in.begin(), in.end());
  if (auto ids = m.codec.open_header(packet)) {
    ss::sip022::server_session session(m.codec, *ids);
    if (auto msg = session.open(m.codec, packet, *ids)) {
      FUZZ_CHECK(ss::decode_address(msg->payload).is_done());
    }
  }
  packet.assign(in.begin(), in.end());
  ss::sip022::client_session client(m.codec);
  (void)client.open(m.codec, packet);

  // Round trip: the input behind an IPv4 address, client to server and back.
  std::vector<std::uint8_t> payload;
  ss::encode_address(ss::target_address::ipv4({127, 0, 0, 1}, 53), payload);
  payload.insert(payload.end(), in.begin(), in.end());
  std::vector<std::uint8_t> sealed(payload.size() + m.codec.overhead(true));
  sealed.resize(client.seal(m.codec, payload, sealed));
  auto ids = m.codec.open_header(sealed);
  FUZZ_CHECK(ids.has_value());
  ss::sip022::server_session session(m.codec, *ids);
  auto msg = session.open(m.codec, sealed, *ids);
  FUZZ_CHECK(msg.has_value());
  FUZZ_CHECK(msg->payload.size() == payload.size() &&
             std::equal(payload.begin(), payload.end(), msg->payload.begin()));
  std::vector<std::uint8_t> reply(payload.size() + m.codec.overhead(true));
  reply.resize(session.seal(m.codec, payload, reply));
  auto back = client.open(m.codec, reply);
  FUZZ_CHECK(back.has_value());
  FUZZ_CHECK(back->size() == payload.size());
  return 0;
}
