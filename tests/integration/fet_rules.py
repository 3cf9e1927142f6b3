"""The five exemption rules of "How the Great Firewall of China Detects and Blocks Fully
Encrypted Traffic" (Wu, Zohaib, Durumeric, Houmansadr, Wustrow, USENIX Security 2023), applied
to the first client-to-server TCP payload of a connection. A first payload that none of them
exempts is a candidate for blocking.

- Ex1: its average number of set bits per byte is at most 3.4 or at least 4.6;
- Ex2: its first six bytes are printable ASCII (0x20 to 0x7e);
- Ex3: more than half of its bytes are printable;
- Ex4: it holds more than 20 contiguous printable bytes;
- Ex5: it starts like TLS (0x16 or 0x17, then 0x03, then 0x00 to 0x09: a record header) or
  like HTTP ("GET ", "PUT ", "POST", "HEAD")."""

_POPCOUNT = [bin(b).count("1") for b in range(256)]
_HTTP = (b"GET ", b"PUT ", b"POST", b"HEAD")


def _printable(b):
    return 0x20 <= b <= 0x7E


def exemption(payload):
    """The first rule that exempts `payload` ("Ex1" to "Ex5"), or None: a candidate for
    blocking."""
    if not payload:
        raise ValueError("no payload: the rules judge a data packet")
    if not 3.4 < sum(_POPCOUNT[b] for b in payload) / len(payload) < 4.6:
        return "Ex1"
    if len(payload) >= 6 and all(_printable(b) for b in payload[:6]):
        return "Ex2"
    if 2 * sum(1 for b in payload if _printable(b)) > len(payload):
        return "Ex3"
    run = 0
    for b in payload:
        run = run + 1 if _printable(b) else 0
        if run > 20:
            return "Ex4"
    if len(payload) >= 3 and payload[0] in (0x16, 0x17) and payload[1] == 0x03 and \
            payload[2] <= 0x09:
        return "Ex5"
    if payload[:4] in _HTTP:
        return "Ex5"
    return None


def candidates(payloads):
    """How many of `payloads` no rule exempts."""
    return sum(1 for p in payloads if exemption(p) is None)
