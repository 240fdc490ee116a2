/*
 * sign.h - local manifest signing for rampctl (OpenSSL): Ed25519 or ECDSA
 * P-256 private keys in PEM, answering the base64 signature rampd expects.
 */
#ifndef RAMPCTL_SIGN_H
#define RAMPCTL_SIGN_H

#include <stddef.h>

/* Signs data with the PEM private key at key_path. Returns the base64
 * signature (caller frees), or NULL with a reason in why. */
char *sign_base64(const char *key_path, const void *data, size_t len, char *why, size_t whylen);

#endif
