# tests/testdata/storage_format_v1_encoder.py: an encoder of keygate storage
# format v1 written from docs/storage-schema.md, independently of the C++
# code; it printed the "encoding" lines of storage_format_v1.txt.
# Usage: python3 storage_format_v1_encoder.py
# docs/storage-schema.md (not from the C++ code).
import hashlib, struct

def varint(n):
    out = b''
    while n >= 0x80:
        out += bytes([(n & 0x7f) | 0x80]); n >>= 7
    return out + bytes([n])
def lp(b):
    if isinstance(b, str): b = b.encode()
    return varint(len(b)) + b
def time(us):
    return struct.pack('>Q', (us & 0xffffffffffffffff) ^ (1 << 63))
def inv_time(us):
    v = ((us & 0xffffffffffffffff) ^ (1 << 63))
    return struct.pack('>Q', (~v) & 0xffffffffffffffff)

TA, TB, TC, TD = 1700000000000001, 1700000500000002, 1800000000000000, 1800000500000000
TE = 1800086400000000
digest = bytes((i * 7 + 1) & 0xff for i in range(32))
pepper1 = bytes.fromhex("000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f")

def account(disabled):
    return (b'\x01' + lp("Billing bot \u00e9") + bytes([1 if disabled else 0]) + time(TA) +
            lp("alice@example.com") + time(TB) + lp("bob"))
def token(scopes, expires, revoked):
    v = b'\x01' + digest + bytes([3]) + lp("ci deploy") + varint(len(scopes))
    for s in scopes: v += lp(s)
    v += time(TC) + lp("carol")
    flags = (1 if expires else 0) | (2 if revoked else 0)
    v += bytes([flags])
    if expires: v += time(TE)
    if revoked: v += time(TD) + lp("dave")
    return v

e = []
e.append(("time.epoch", time(0)))
e.append(("time.before_epoch", time(-1)))
e.append(("time.a", time(TA)))
e.append(("key.schema_version", b"schema_version"))
e.append(("key.pepper_fingerprint.1", b"pepper/1"))
e.append(("key.pepper_fingerprint.61", b"pepper/61"))
e.append(("key.account", lp("org-1") + b"deploy-bot"))
e.append(("key.account.long_organization", lp("o" * 200) + b"svc"))
e.append(("key.account_prefix", lp("org-1")))
e.append(("key.organization_prefix", lp("org-1")))
tk = lp("org-1") + lp("deploy-bot") + b"ci-token"
e.append(("key.token", tk))
e.append(("key.token_prefix", lp("org-1") + lp("deploy-bot")))
e.append(("key.token_time", lp("org-1") + lp("deploy-bot") + inv_time(TA) + b"ci-token"))
e.append(("key.token_time_suffix", inv_time(TA) + b"ci-token"))
e.append(("key.digest", digest))
e.append(("value.schema_version", b"1"))
e.append(("value.pepper_fingerprint.test_pepper_1",
          hashlib.blake2b(b"keygate pepper fingerprint v1", digest_size=32, key=pepper1).digest()))
e.append(("value.token_digest.test_pepper_1",
          hashlib.blake2b(b"kg_example-token-for-the-format-test", digest_size=32, key=pepper1).digest()))
e.append(("record.account.enabled", account(False)))
e.append(("record.account.disabled", account(True)))
e.append(("record.token.plain", token(["read:*"], False, False)))
e.append(("record.token.expiring", token(["delete:service_accounts", "read:*", "write:tokens"], True, False)))
e.append(("record.token.revoked", token(["read:*"], False, True)))
e.append(("record.token.expiring_revoked", token([], True, True)))
e.append(("record.digest", b'\x01' + lp(tk)))
for name, b in e:
    print("encoding %s %s" % (name, b.hex()))
