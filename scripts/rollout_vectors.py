"""Reference vectors for the rollout bucket (docs/src/mobile-api.md "The
rollout bucket"), computed independently of the Rust code with hashlib.

    python3 scripts/rollout_vectors.py > tests/fixtures/rollout_vectors.json
"""
import hashlib
import json
import math


def bucket(user_id: str, version: str) -> int:
    digest = hashlib.sha256(b"\x00rollout:" + version.encode() + b":" + user_id.encode()).digest()
    return int.from_bytes(digest[:8], "big") % 10000


def threshold(percent: float) -> int:
    return math.floor(percent * 100 + 0.5)


def inside(user_id: str, version: str, percent: float) -> bool:
    return bucket(user_id, version) < threshold(percent)


users = ["user-1", "yuki-1", "ゆき", "a:b:c", "", "x" * 255, "0", "gen-123456", "🇯🇵", "user-2"]
versions = ["4cdf2923d95f", "e69a42561f48", "000000000000"]
percents = [0.01, 1, 5, 10, 25, 33.33, 50, 99.99]
cases = []
for u in users:
    if not u:
        continue
    for v in versions:
        cases.append({
            "user_id": u,
            "version": v,
            "bucket": bucket(u, v),
            "inside": {str(p): inside(u, v, p) for p in percents},
        })
print(json.dumps({
    "algorithm": "bucket = u64_be(sha256(0x00 || 'rollout:' || version || ':' || user_id)[0..8]) mod 10000; inside at P % iff bucket < floor(P * 100 + 0.5)",
    "generated_by": "an independent Python implementation (hashlib), not the Rust code under test",
    "cases": cases,
}, ensure_ascii=False, indent=1))
