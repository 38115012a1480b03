"""RFC 9497's VOPRF(ristretto255, SHA-512), client side, written apart from
hush's C code: Python's hashlib for SHA-512 and expand_message_xmd, and
libsodium's ristretto255 group through ctypes.  The end-to-end tests use it
as a device would, so that hushd's issuer is checked against an
independent implementation (and this one against the RFC's vectors).
"""
import ctypes
import ctypes.util
import hashlib
import os

CONTEXT = b"OPRFV1-\x01-ristretto255-SHA512"

_lib = ctypes.CDLL(ctypes.util.find_library("sodium") or "libsodium.so.23")
if _lib.sodium_init() < 0:
    raise RuntimeError("sodium_init failed")


def i2osp(v, n):
    return v.to_bytes(n, "big")


def expand64(msg, dst):
    """expand_message_xmd (RFC 9380 5.3.1), SHA-512, 64 bytes."""
    dst_prime = dst + i2osp(len(dst), 1)
    b0 = hashlib.sha512(bytes(128) + msg + i2osp(64, 2) + b"\x00" + dst_prime).digest()
    return hashlib.sha512(b0 + b"\x01" + dst_prime).digest()


def _buf(n):
    return ctypes.create_string_buffer(n)


def hash_to_group(msg):
    out = _buf(32)
    if _lib.crypto_core_ristretto255_from_hash(out, expand64(msg, b"HashToGroup-" + CONTEXT)):
        raise ValueError("from_hash")
    return out.raw


def hash_to_scalar(msg, prefix=b"HashToScalar-"):
    out = _buf(32)
    _lib.crypto_core_ristretto255_scalar_reduce(out, expand64(msg, prefix + CONTEXT))
    return out.raw


def mult(k, p):
    out = _buf(32)
    if _lib.crypto_scalarmult_ristretto255(out, k, p) != 0:
        raise ValueError("scalar multiplication gave the identity")
    return out.raw


def base_mult(k):
    out = _buf(32)
    if _lib.crypto_scalarmult_ristretto255_base(out, k) != 0:
        raise ValueError("scalar multiplication gave the identity")
    return out.raw


def add(p, q):
    out = _buf(32)
    if _lib.crypto_core_ristretto255_add(out, p, q) != 0:
        raise ValueError("not an element")
    return out.raw


def scalar_op(name, a, b=None):
    out = _buf(32)
    fn = getattr(_lib, "crypto_core_ristretto255_scalar_" + name)
    rc = fn(out, a) if b is None else fn(out, a, b)
    if rc not in (None, 0):
        raise ValueError(name)
    return out.raw


def derive_key(seed, info):
    derive_input = seed + i2osp(len(info), 2) + info
    for counter in range(256):
        sk = hash_to_scalar(derive_input + i2osp(counter, 1), b"DeriveKeyPair")
        if sk != bytes(32):
            return sk, base_mult(sk)
    raise ValueError("no key")


def blind(data, r=None):
    """(blind, blinded element) of an input."""
    if r is None:
        r = _buf(32)
        _lib.crypto_core_ristretto255_scalar_random(r)
        r = r.raw
    return r, mult(r, hash_to_group(data))


def _l2(b):
    return i2osp(len(b), 2) + b


def _composites(pk, cs, ds):
    seed_dst = b"Seed-" + CONTEXT
    seed = hashlib.sha512(_l2(pk) + _l2(seed_dst)).digest()
    m = z = None
    for i, (c, d) in enumerate(zip(cs, ds)):
        di = hash_to_scalar(_l2(seed) + i2osp(i, 2) + _l2(c) + _l2(d) + b"Composite")
        mc, zd = mult(di, c), mult(di, d)
        m = mc if m is None else add(m, mc)
        z = zd if z is None else add(z, zd)
    return m, z


def verify_proof(pk, blinded, evaluated, proof):
    c, s = proof[:32], proof[32:]
    m, z = _composites(pk, blinded, evaluated)
    t2 = add(base_mult(s), mult(c, pk))
    t3 = add(mult(s, m), mult(c, z))
    expect = hash_to_scalar(_l2(pk) + _l2(m) + _l2(z) + _l2(t2) + _l2(t3) + b"Challenge")
    return expect == c


def finalize(data, r, evaluated):
    n = mult(scalar_op("invert", r), evaluated)
    return hashlib.sha512(_l2(data) + _l2(n) + b"Finalize").digest()


def token_input(epoch, nonce):
    return b"hush-token-v1" + i2osp(epoch, 8) + nonce


def new_nonce():
    return os.urandom(32)
