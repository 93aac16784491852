/**
 * The Ed25519 public key (base64 DER, SPKI) that release manifests must be signed with. It is part
 * of the binary on purpose: a key read from the environment or the config would let whoever can
 * set those install any binary. `scripts/build.ts` replaces it at build time when the build
 * environment has FERRY_RELEASE_PUBKEY (tests build binaries with their own key that way).
 */
declare const FERRY_RELEASE_PUBKEY: string | undefined;

const PROJECT_RELEASE_KEY = "MCowBQYDK2VwAyEA5uvVyL1wkUcUBm46U06ry3OwNZb4Kit9i+WByi1lvJE=";

export const RELEASE_PUBLIC_KEY: string = typeof FERRY_RELEASE_PUBKEY === "string" ? FERRY_RELEASE_PUBKEY : PROJECT_RELEASE_KEY;
