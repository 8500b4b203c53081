/**
 * A byte buffer that grows as it is written (doubling): for the Parquet encoders of page bodies and
 * headers, and for the JSON texts of a packed lookup table.
 */
export class GrowingBuffer {
  buffer: Buffer;
  length = 0;

  constructor(initialSize = 4096) {
    this.buffer = Buffer.allocUnsafe(initialSize);
  }

  reserve(count: number): void {
    if (this.length + count <= this.buffer.length) return;
    const grown = Buffer.allocUnsafe(Math.max(this.buffer.length * 2, this.length + count));
    this.buffer.copy(grown, 0, 0, this.length);
    this.buffer = grown;
  }

  byte(value: number): void {
    this.reserve(1);
    this.buffer[this.length++] = value;
  }

  /** An unsigned LEB128 varint of a non-negative integer below 2^53. */
  varint(value: number): void {
    this.reserve(10);
    while (value > 0x7f) {
      this.buffer[this.length++] = (value % 0x80) | 0x80;
      value = Math.floor(value / 0x80);
    }
    this.buffer[this.length++] = value;
  }

  /** `text` in UTF-8. */
  utf8(text: string): void {
    // A UTF-16 code unit is at most 3 bytes of UTF-8 (a surrogate pair, 2 units, is 4).
    this.reserve(text.length * 3);
    this.length += this.buffer.write(text, this.length);
  }

  /** What was written, as the buffer itself when it is nearly full (no copy of a large buffer), else a copy. */
  written(): Buffer {
    const slack = this.buffer.length - this.length;
    return slack <= this.buffer.length / 8 ? this.buffer.subarray(0, this.length) : this.copy();
  }

  /** A copy of what was written. */
  copy(): Buffer {
    const copy = Buffer.allocUnsafe(this.length);
    this.buffer.copy(copy, 0, 0, this.length);
    return copy;
  }
}
