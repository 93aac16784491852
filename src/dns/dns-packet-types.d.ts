/** dns-packet's own RR type table (types.js), which @types/dns-packet does not declare. */
declare module "dns-packet/types.js" {
  const types: {
    /** The mnemonic dns-packet encodes and decodes for a type number; `UNKNOWN_<n>` when it has none. */
    toString(type: number): string;
    /** The number of a mnemonic (`UNKNOWN_<n>` included); 0 for a name it does not know. */
    toType(name: string): number;
  };
  export default types;
}
