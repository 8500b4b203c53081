/** A small SVG chart: wall time and peak RSS against input size, one line per variant. */

export interface Point {
  readonly variant: string;
  readonly inputMB: number;
  readonly wallSeconds: number;
  readonly peakRssMiB: number;
}

const COLORS = ["#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e"];

function panel(
  points: readonly Point[],
  value: (point: Point) => number,
  title: string,
  unit: string,
  left: number,
): string {
  const width = 380;
  const height = 260;
  const variants = [...new Set(points.map((point) => point.variant))];
  const maxX = Math.max(1, ...points.map((point) => point.inputMB)) * 1.05;
  const maxY = Math.max(1e-9, ...points.map(value)) * 1.15;
  const x = (mb: number) => left + 50 + (mb / maxX) * (width - 70);
  const y = (v: number) => 30 + (height - 70) * (1 - v / maxY);
  const parts = [
    `<text x="${left + width / 2}" y="18" text-anchor="middle" font-weight="bold">${title}</text>`,
    `<line x1="${x(0)}" y1="${y(0)}" x2="${x(maxX)}" y2="${y(0)}" stroke="#333"/>`,
    `<line x1="${x(0)}" y1="${y(0)}" x2="${x(0)}" y2="${y(maxY)}" stroke="#333"/>`,
    `<text x="${left + width / 2}" y="${height - 8}" text-anchor="middle">input (MB of JSON)</text>`,
    `<text x="${left + 12}" y="${height / 2}" transform="rotate(-90 ${left + 12} ${height / 2})" text-anchor="middle">${unit}</text>`,
  ];
  for (let tick = 0; tick <= 4; tick++) {
    const v = (maxY * tick) / 4;
    parts.push(
      `<text x="${x(0) - 4}" y="${y(v) + 4}" text-anchor="end" font-size="10">${v >= 10 ? v.toFixed(0) : v.toFixed(1)}</text>`,
    );
    const mb = (maxX * tick) / 4;
    parts.push(
      `<text x="${x(mb)}" y="${y(0) + 14}" text-anchor="middle" font-size="10">${mb.toFixed(0)}</text>`,
    );
  }
  variants.forEach((variant, index) => {
    const line = points.filter((point) => point.variant === variant).sort((a, b) => a.inputMB - b.inputMB);
    const color = COLORS[index % COLORS.length];
    parts.push(
      `<polyline fill="none" stroke="${color}" stroke-width="2" points="${line.map((point) => `${x(point.inputMB)},${y(value(point))}`).join(" ")}"/>`,
      ...line.map(
        (point) => `<circle cx="${x(point.inputMB)}" cy="${y(value(point))}" r="3" fill="${color}"/>`,
      ),
      `<text x="${left + 60}" y="${40 + index * 14}" font-size="11" fill="${color}">${variant}</text>`,
    );
  });
  return parts.join("\n");
}

export function chart(points: readonly Point[], caption: string): string {
  return [
    `<svg xmlns="http://www.w3.org/2000/svg" width="800" height="300" font-family="Helvetica, Arial, sans-serif" font-size="12">`,
    `<rect width="800" height="300" fill="white"/>`,
    panel(points, (point) => point.wallSeconds, "wall time (median)", "seconds", 0),
    panel(points, (point) => point.peakRssMiB, "peak RSS (median)", "MiB", 400),
    `<text x="400" y="296" text-anchor="middle" font-size="10" fill="#555">${caption}</text>`,
    "</svg>",
  ].join("\n");
}
