/** The part of snappyjs (which ships no types) that sluice uses. */
declare module "snappyjs" {
  const snappy: {
    compress<T extends Uint8Array | ArrayBuffer>(input: T): T;
    uncompress<T extends Uint8Array | ArrayBuffer>(input: T): T;
  };
  export default snappy;
}
