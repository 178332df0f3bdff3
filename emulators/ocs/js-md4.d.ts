/** The part of js-md4 (a CommonJS package without type declarations) sip.ntlm.ts uses. */
declare module 'js-md4' {
  interface Md4 {
    /** The digest of `message` (pure JavaScript, whatever OpenSSL this node has). */
    arrayBuffer(message: Uint8Array): ArrayBuffer;
  }
  const md4: Md4;
  export default md4;
}
