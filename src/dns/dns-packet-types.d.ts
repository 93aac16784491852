/** dns-packet's own RR type table (types.js), which @types/dns-packet does not declare. */
declare module "dns-packet/types.js" {
  /** The mnemonic dns-packet encodes and decodes for a type number; `UNKNOWN_<n>` when it has none. */
  export function toString(type: number): string;
  /** The number of a mnemonic (`UNKNOWN_<n>` included); 0 for a name it does not know. */
  export function toType(name: string): number;
}
