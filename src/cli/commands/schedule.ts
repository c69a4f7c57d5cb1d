import { Command, Option } from 'commander';
import { INPUT_FORMATS, MISSED_POLICIES, ON_ERROR, OUTPUT_FORMATS, parseCron, type JobRecord, type ScheduleRecord } from '../../jobs/index.js';
import type { CliContext } from '../context.js';
import { parseCount } from '../parse.js';
import type { RemoteClient } from '../remote-client.js';
import { jobRequestOf, renderJobLine, serverClient, type RemoteRunFlags } from './batch-remote.js';
import { examples, optionParser } from './options.js';

interface CreateFlags extends Omit<RemoteRunFlags, 'detach'> {
  cron: string;
  timezone?: string;
  missed?: string;
  paused?: boolean;
}

const server = (ctx: CliContext): Promise<RemoteClient> => serverClient(ctx, 'schedules');

function renderSchedule(s: ScheduleRecord, runs: JobRecord[]): string {
  const lines = [
    `schedule ${s.name}: ${s.enabled ? 'enabled' : 'paused'}`,
    `  when      ${s.cron} (${s.timezone}): ${s.description}`,
    `  missed    ${s.missed}`,
    `  job       ${s.spec.model}: ${s.spec.input} → ${s.spec.output}`,
    `  created   ${s.createdAt} by ${s.actor}`,
  ];
  if (s.enabled) {
    let next = [s.nextAt];
    try {
      next = parseCron(s.cron, { timezone: s.timezone }).nextN(new Date(Date.parse(s.nextAt) - 1), 3).map((d) => d.toISOString());
    } catch {
      // shown as stored
    }
    lines.push(`  next      ${next.join(', ')}`);
  }
  if (runs.length > 0) {
    lines.push('  recent runs:');
    for (const j of runs) lines.push(`    ${renderJobLine(j).trim()}`);
  } else {
    lines.push('  no runs yet');
  }
  return lines.join('\n') + '\n';
}

/** `berth schedule …`: cron schedules of server batch jobs. */
export function addScheduleCommands(program: Command, ctx: CliContext): void {
  const schedule = program
    .command('schedule')
    .description('run batch jobs on the server on a cron timetable, with a history of runs and an alert when one fails')
    .addHelpText('after', examples('berth schedule create nightly-credit --cron "0 2 * * *" --timezone Europe/Paris --model credit@production --input nightly/applicants.csv --output nightly/scored.parquet', 'berth schedule list', 'berth schedule show nightly-credit'));
  schedule
    .command('create')
    .description("create a schedule; the job is checked now (model, fields, paths), and each run resolves the model reference when it fires (an alias follows its moves)")
    .argument('<name>', 'the schedule name')
    .requiredOption('--cron <expr>', '5 fields: minute hour day-of-month month day-of-week (e.g. "0 2 * * *", "*/15 * * * *", "30 6 * * MON-FRI"), or @hourly, @daily, @weekly, @monthly')
    .option('--timezone <zone>', 'IANA zone the fields are read in, e.g. Europe/Paris (default UTC); daylight-saving days are handled')
    .addOption(new Option('--missed <policy>', 'runs that fell in downtime: skip them, run-once for all of them (the default), or run-all in order').choices([...MISSED_POLICIES]))
    .option('--paused', 'create it paused (berth schedule resume NAME starts it)')
    .requiredOption('--model <ref>', 'NAME, NAME@3 or NAME@alias')
    .requiredOption('--input <path>', "the input on the server (relative: under its jobs root), a URL, or a database URL with --query")
    .addOption(new Option('--input-format <format>', 'input format (default: from the extension)').choices([...INPUT_FORMATS]))
    .option('--query <sql>', 'the SQL query of a database input (with ORDER BY)')
    .requiredOption('--output <path>', 'the output on the server, or a table URL')
    .addOption(new Option('--format <format>', 'output format (default: from the extension)').choices([...OUTPUT_FORMATS]))
    .option('--if-exists <policy>', 'a table output that exists: fail, append or replace')
    .option('--key <cols>', 'columns copied before the predictions, comma-separated')
    .option('--no-key', 'no key columns: only the predictions')
    .addOption(new Option('--on-error <mode>', 'a row that cannot be scored').choices([...ON_ERROR]))
    .option('--batch-rows <n>', 'rows per runtime call', optionParser((t) => parseCount('--batch-rows', t, 1)))
    .option('--part-rows <n>', 'input rows per output part', optionParser((t) => parseCount('--part-rows', t, 1)))
    .option('--json', 'print the schedule as JSON')
    .addHelpText(
      'after',
      examples(
        'berth schedule create nightly-credit --cron "0 2 * * *" --timezone Europe/Paris --model credit@production --input nightly/applicants.csv --output nightly/scored.parquet',
        'berth schedule create churn-weekly --cron "@weekly" --missed skip --model churn@production --input postgres://db/crm --query "SELECT * FROM customers ORDER BY id" --output weekly/churn.parquet',
      ),
    )
    .action(async (name: string, o: CreateFlags) => {
      const job = jobRequestOf(o);
      const body = { name, cron: o.cron, job, enabled: o.paused !== true, ...(o.timezone !== undefined ? { timezone: o.timezone } : {}), ...(o.missed !== undefined ? { missed: o.missed } : {}) };
      const s = await (await server(ctx)).createSchedule(body);
      if (ctx.globals.json || o.json === true) ctx.io.out(JSON.stringify(s, null, 2) + '\n');
      else ctx.io.out(`schedule ${s.name} created: ${s.description} (${s.timezone}); ${s.enabled ? `next run ${s.nextAt}` : 'paused'}\n`);
    });
  schedule
    .command('list')
    .description('every schedule, with its next run')
    .option('--json', 'print them as JSON')
    .addHelpText('after', examples('berth schedule list', 'berth schedule list --json'))
    .action(async (o: { json?: boolean }) => {
      const { schedules } = await (await server(ctx)).listSchedules();
      if (ctx.globals.json || o.json === true) {
        ctx.io.out(JSON.stringify({ schedules }, null, 2) + '\n');
        return;
      }
      if (schedules.length === 0) {
        ctx.io.out('no schedules; create one with berth schedule create NAME --cron "0 2 * * *" --model … --input … --output …\n');
        return;
      }
      for (const s of schedules) {
        ctx.io.out(`${s.name.padEnd(20)} ${(s.enabled ? 'enabled' : 'paused').padEnd(8)} ${s.cron.padEnd(16)} ${s.timezone.padEnd(14)} next ${s.enabled ? s.nextAt : '-'}  last job ${s.lastJob ?? '-'}\n`);
      }
    });
  schedule
    .command('show')
    .description('one schedule: its timetable in words, the next runs and the recent ones')
    .argument('<name>')
    .option('--runs <n>', 'recent runs to show (default 10)', optionParser((t) => parseCount('--runs', t, 1)))
    .option('--json', 'print the schedule and its runs as JSON')
    .addHelpText('after', examples('berth schedule show nightly-credit', 'berth schedule show nightly-credit --runs 30 --json'))
    .action(async (name: string, o: { runs?: number; json?: boolean }) => {
      const client = await server(ctx);
      const s = await client.getSchedule(name);
      const { jobs } = await client.listJobs({ schedule: name, limit: o.runs ?? 10 });
      if (ctx.globals.json || o.json === true) ctx.io.out(JSON.stringify({ schedule: s, runs: jobs }, null, 2) + '\n');
      else ctx.io.out(renderSchedule(s, jobs));
    });
  for (const [action, what] of [
    ['pause', 'stop firing; runs due while paused are not owed'],
    ['resume', 'fire again from the next instant on'],
  ] as const) {
    schedule
      .command(action)
      .description(what)
      .argument('<name>')
      .option('--json', 'print the schedule as JSON')
      .addHelpText('after', examples(`berth schedule ${action} nightly-credit`))
      .action(async (name: string, o: { json?: boolean }) => {
        const s = (await (await server(ctx)).scheduleAction(name, action)) as ScheduleRecord;
        if (ctx.globals.json || o.json === true) ctx.io.out(JSON.stringify(s, null, 2) + '\n');
        else ctx.io.out(`schedule ${s.name} ${s.enabled ? `enabled; next run ${s.nextAt}` : 'paused'}\n`);
      });
  }
  schedule
    .command('run')
    .description("submit the schedule's job now (the timetable is unchanged)")
    .argument('<name>')
    .option('--json', 'print the job as JSON')
    .addHelpText('after', examples('berth schedule run nightly-credit', 'berth batch logs $(berth schedule run nightly-credit --json | jq .id) --follow'))
    .action(async (name: string, o: { json?: boolean }) => {
      const j = (await (await server(ctx)).scheduleAction(name, 'run')) as JobRecord;
      if (ctx.globals.json || o.json === true) ctx.io.out(JSON.stringify(j, null, 2) + '\n');
      else ctx.io.out(`job ${j.id} queued for schedule ${name}; berth batch status ${j.id}\n`);
    });
  schedule
    .command('delete')
    .description('delete a schedule (its past runs stay in berth batch list --remote)')
    .argument('<name>')
    .option('--json', 'print the answer as JSON')
    .addHelpText('after', examples('berth schedule delete nightly-credit'))
    .action(async (name: string, o: { json?: boolean }) => {
      const r = await (await server(ctx)).deleteSchedule(name);
      if (ctx.globals.json || o.json === true) ctx.io.out(JSON.stringify(r, null, 2) + '\n');
      else ctx.io.out(`schedule ${name} deleted\n`);
    });
}
