// The report every benchmark returns, and the Markdown table `npm run bench` prints from them.

export interface Metric {
  name: string;
  value: number | string;
  /** `ms`, `/s`, `×`, `B`, `MiB`, or none for counts. */
  unit?: string;
  note?: string;
}

/**
 * A condition the run must meet: a correctness check (exactly one winner, money counted once) or,
 * with `goal: true`, a performance goal (a ratio or a time the issue set). Any failed check, and
 * any missed goal, makes the run exit non-zero.
 */
export interface Check {
  name: string;
  ok: boolean;
  detail: string;
  /** A performance goal, not a correctness check: printed as `goal: …` with `met` or `MISSED`. */
  goal?: boolean;
}

/** A performance goal as a check: `value` must be at most (`≤`) or at least (`≥`) `limit`. */
export function goalCheck(
  name: string,
  value: number,
  comparison: '≤' | '≥',
  limit: number,
  unit: string | undefined,
  detail = '',
): Check {
  const ok = Number.isFinite(value) && (comparison === '≤' ? value <= limit : value >= limit);
  const measured = `${formatNumber(value, unit)} (goal ${comparison} ${formatNumber(limit, unit)})`;
  return {
    name: `${name} ${comparison} ${formatNumber(limit, unit)}`,
    ok,
    detail: detail ? `${measured}; ${detail}` : measured,
    goal: true,
  };
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
    for (const check of report.checks) {
      if (!check.ok) failed.push(`${where}: ${check.goal ? 'goal MISSED' : 'FAILED'}: ${check.name}: ${check.detail}`);
    }
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
  // Correctness checks read `ok` or `FAILED`; goals `met` or `MISSED`, so a missed goal stands out in the table.
  for (const check of report.checks) {
    if (check.goal) add(`goal: ${check.name}`, check.ok ? 'met' : 'MISSED', check.detail);
    else add(`check: ${check.name}`, check.ok ? 'ok' : 'FAILED', check.detail);
  }
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
