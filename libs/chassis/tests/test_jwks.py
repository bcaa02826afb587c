"""The keys of a JWKS: only RS256 keys with a kid are taken, each built once."""

from __future__ import annotations

from chassis.jwks import rsa_keys
from testkit.tokens import DevSigningKey


def test_only_rs256_keys_with_a_kid_are_taken() -> None:
    key = DevSigningKey.generate()
    published = key.jwks()["keys"][0]
    keys = rsa_keys(
        {
            "keys": [
                published,
                {**published, "kid": "rs512", "alg": "RS512"},
                {k: v for k, v in published.items() if k != "kid"},
                {"kty": "oct", "kid": "hmac", "k": "c2VjcmV0"},
                {"kty": "RSA", "kid": "broken", "n": "!!", "e": "AQAB"},
                "not a key",
            ]
        }
    )
    assert list(keys) == [key.kid]
    # A key published without `alg` (Microsoft's) is taken as RS256.
    bare = {k: v for k, v in published.items() if k != "alg"}
    assert list(rsa_keys({"keys": [bare]})) == [key.kid]
