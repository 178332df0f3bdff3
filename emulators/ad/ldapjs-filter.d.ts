/** The part of @ldapjs/filter (a CommonJS package without type declarations) the AD emulator uses. */
declare module '@ldapjs/filter' {
  export interface FilterNode {
    type: string;
    attribute?: string;
    value?: unknown;
    initial?: string;
    any?: string[];
    final?: string;
    clauses?: FilterNode[];
    filter?: FilterNode;
    matchingRule?: string;
    dnAttributes?: boolean;
    toString(): string;
  }
  const filterPkg: { parseString(text: string): FilterNode };
  export default filterPkg;
}
