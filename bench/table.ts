// The report every benchmark returns, and the Markdown table `npm run bench` prints from them.

export interface Metric {
  name: string;
  value: number | string;
  /** `ms`, `/s`, `×`, `B`, `MiB`, or none for counts. */
  unit?: string;
  note?: string;
}

/** A correctness condition; any failed check makes the run exit non-zero. */
export interface Check {
  name: string;
  ok: boolean;
  detail: string;
}

export interface BenchReport {
  benchmark: string;
  /** What it ran on: `memory`, `mongodb`, `memory + redis`. */
  store: string;
  params: Record<string, number | string | boolean>;
  metrics: Metric[];
  checks: Check[];
  /** Why it did not run on this machine (missing service); not a failure. */
  skipped?: string;
  /** It threw: a failure. */
  error?: string;
}

const integer = new Intl.NumberFormat('en-US', { maximumFractionDigits: 0 });

function formatNumber(value: number, unit: string | undefined): string {
  if (!Number.isFinite(value)) return String(value);
  if (unit === '×') return `${value.toFixed(2)}×`;
  const abs = Math.abs(value);
  let text: string;
  if (Number.isInteger(value) || abs >= 100) text = integer.format(value);
  else if (abs >= 10) text = value.toFixed(1);
  else if (abs >= 1) text = value.toFixed(2);
  else text = value.toPrecision(2);
  return unit ? `${text} ${unit}` : text;
}

export function formatValue(metric: Pick<Metric, 'value' | 'unit'>): string {
  return typeof metric.value === 'number' ? formatNumber(metric.value, metric.unit) : metric.value;
}

export function failedChecks(reports: readonly BenchReport[]): string[] {
  const failed: string[] = [];
  for (const report of reports) {
    const where = `${report.benchmark} (${report.store})`;
    if (report.error) failed.push(`${where}: ${report.error}`);
    for (const check of report.checks) if (!check.ok) failed.push(`${where}: ${check.name}: ${check.detail}`);
  }
  return failed;
}

type Cells = [string, string, string, string, string];

function rowsOf(report: BenchReport): Cells[] {
  const rows: Cells[] = [];
  const add = (metric: string, value: string, note = '') => {
    const first = rows.length === 0;
    rows.push([first ? report.benchmark : '', first ? report.store : '', metric, value, note]);
  };
  if (report.skipped) add('skipped', '—', report.skipped);
  for (const metric of report.metrics) add(metric.name, formatValue(metric), metric.note ?? '');
  for (const check of report.checks) add(`check: ${check.name}`, check.ok ? 'ok' : 'FAILED', check.detail);
  if (report.error) add('error', 'FAILED', report.error);
  return rows;
}

const escapeCell = (cell: string) => cell.replaceAll('|', '\\|').replaceAll('\n', ' ');

/** A Markdown table (aligned, so it reads in a terminal and pastes into the README as is). */
export function renderTable(reports: readonly BenchReport[]): string {
  const header: Cells = ['benchmark', 'store', 'metric', 'value', 'note'];
  const body = reports.flatMap(rowsOf).map((row) => row.map(escapeCell) as Cells);
  const widths = header.map((h, i) => Math.max(h.length, ...body.map((row) => row[i]?.length ?? 0)));
  // The value column is right-aligned; the last column is not padded.
  const line = (cells: Cells) =>
    `| ${cells
      .map((cell, i) => (i === 3 ? cell.padStart(widths[i] ?? 0) : i === 4 ? cell : cell.padEnd(widths[i] ?? 0)))
      .join(' | ')} |`;
  const rule = `| ${widths.map((w, i) => (i === 3 ? `${'-'.repeat(Math.max(3, w - 1))}:` : '-'.repeat(Math.max(3, i === 4 ? 4 : w)))).join(' | ')} |`;
  return [line(header), rule, ...body.map(line)].join('\n');
}
