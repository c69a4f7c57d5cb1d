import { Command, Option } from 'commander';
import { ModelRef, type Tensor } from '../../core/index.js';
import { STREAM_FORMATS, type StreamFormat, type StreamSpec, type StreamStats, type StreamSummary } from '../../jobs/index.js';
import type { CliContext } from '../context.js';
import { parseCount } from '../parse.js';
import { withLocalRegistry } from './local-registry.js';
import { examples, optionParser } from './options.js';

interface StreamRunFlags {
  model: string;
  from: string;
  to: string;
  deadLetter?: string;
  durable?: string;
  format: StreamFormat;
  idField?: string;
  batchRows?: number;
  maxDelayMs?: number;
  maxInflight?: number;
  ackWaitMs?: number;
  retryDelayMs?: number;
  maxAttempts?: number;
  exitWhenEmpty?: boolean;
  json?: boolean;
}

/** `berth stream run`: score messages from NATS JetStream with a model version, in this process. */
export function addStreamCommands(program: Command, ctx: CliContext): void {
  const stream = program
    .command('stream')
    .description('score message streams (NATS JetStream) with a model version')
    .addHelpText('after', examples('berth stream run --model credit@production --from nats://127.0.0.1:4222/loans.new --to nats://127.0.0.1:4222/loans.scored'));
  const count = (flag: string, min: number) => optionParser((t) => parseCount(flag, t, min));
  stream
    .command('run')
    .description('consume messages from a JetStream subject through a durable pull consumer, score them in micro-batches and publish one result per row; each input is acked only after its results are stored, and results carry Nats-Msg-Id <model>@<version>/<id>, so a crash and a redelivery never give a row two results (docs/streaming.md)')
    .requiredOption('--model <ref>', 'the version: NAME (latest), NAME@3 or NAME@alias')
    .requiredOption('--from <url>', 'input: nats://host:4222/SUBJECT (wildcards allowed); a JetStream stream must store the subject')
    .requiredOption('--to <subject>', 'output: nats://host:4222/SUBJECT or a bare SUBJECT on the same server; a stream must store it (its duplicate window drops repeated results)')
    .option('--dead-letter <subject>', 'where messages that cannot be scored go, with the reason, row and field (default <to>.rejected)')
    .option('--durable <name>', 'durable consumer name; the same name resumes where the last run stopped (default: from the model and subjects)')
    .addOption(new Option('--format <format>', 'message body: json (a row object {"id": …, "<feature>": …} or an array of them) or v2 (an Open Inference Protocol v2 request)').choices([...STREAM_FORMATS]).default('json'))
    .option('--id-field <name>', 'the row field holding its id, echoed in the result (default id; absent, the stream sequence is the id)')
    .option('--batch-rows <n>', 'rows per runtime call, at most (default 256)', count('--batch-rows', 1))
    .option('--max-delay-ms <ms>', 'longest wait for a fuller batch (default 5)', count('--max-delay-ms', 0))
    .option('--max-inflight <n>', 'messages pulled and not yet acked, at most: the memory bound (default 4 × --batch-rows)', count('--max-inflight', 1))
    .option('--ack-wait-ms <ms>', 'redeliver a message not acked within this time (sets the consumer\'s ack wait; new consumers: 30000)', count('--ack-wait-ms', 100))
    .option('--retry-delay-ms <ms>', 'when the model fails, nak the batch\'s messages with this delay (default 1000)', count('--retry-delay-ms', 0))
    .option('--max-attempts <n>', 'deliveries the model may fail on before a message goes to the dead letters (default 5)', count('--max-attempts', 1))
    .option('--exit-when-empty', 'stop once the consumer has nothing pending or unacked (a catch-up run), instead of waiting for more')
    .option('--json', 'print the summary as JSON on stdout when the stream stops')
    .addHelpText(
      'after',
      `
Messages (--format json, the friendly endpoint's rows):
  {"id": "a1", "age": 41, "annual_income": 52000, …, "region": "south"}
  [{"id": "a1", …}, {"id": "a2", …}]
Results on --to, one message per row, with the prediction columns batch jobs write:
  {"id": "a1", "model": "credit", "version": 3, "label": "repaid", "p_repaid": 0.93, "p_default": 0.07}
Ctrl-C (SIGINT) or SIGTERM stops gracefully: in-flight batches finish and are acked; a second signal stops at once.
${examples(
  'berth stream run --model credit@production --from nats://127.0.0.1:4222/loans.new --to loans.scored',
  'berth stream run --model credit --from nats://nats:4222/loans.new --to loans.scored --batch-rows 512 --max-delay-ms 10',
  'berth stream run --model bc@3 --from nats://127.0.0.1:4222/bc.in --to bc.out --format v2 --exit-when-empty --json',
  '# run it again (same --durable, or the same model and subjects): it resumes where it stopped',
  '# the streams, made once beforehand: the inputs, and the results with their dead letters',
  "nats stream add LOANS --subjects 'loans.new' --defaults",
  "nats stream add SCORES --subjects 'loans.scored' --subjects 'loans.scored.rejected' --defaults",
)}`,
    )
    .action(async (o: StreamRunFlags) => {
      const ref = ModelRef.parse(o.model);
      await withLocalRegistry(ctx, 'stream run', async (registry) => {
        const version = await registry.resolve(ref);
        const spec: StreamSpec = {
          version, from: o.from, to: o.to, format: o.format,
          ...(o.deadLetter !== undefined ? { deadLetter: o.deadLetter } : {}),
          ...(o.durable !== undefined ? { durable: o.durable } : {}),
          ...(o.idField !== undefined ? { idField: o.idField } : {}),
          ...(o.batchRows !== undefined ? { batchRows: o.batchRows } : {}),
          ...(o.maxDelayMs !== undefined ? { maxDelayMs: o.maxDelayMs } : {}),
          ...(o.maxInflight !== undefined ? { maxInflight: o.maxInflight } : {}),
          ...(o.ackWaitMs !== undefined ? { ackWaitMs: o.ackWaitMs } : {}),
          ...(o.retryDelayMs !== undefined ? { retryDelayMs: o.retryDelayMs } : {}),
          ...(o.maxAttempts !== undefined ? { maxAttempts: o.maxAttempts } : {}),
          ...(o.exitWhenEmpty === true ? { stopWhenEmpty: true } : {}),
        };
        const json = ctx.globals.json || o.json === true;
        const { runStream } = await import('../../jobs/index.js');
        let decodeV2: ((body: unknown) => Tensor[]) | undefined;
        if (o.format === 'v2') {
          const { decodeInferRequest } = await import('../../protocol/index.js');
          decodeV2 = (body) => decodeInferRequest(body).inputs;
        }
        const progress = progressPrinter(ctx);
        const run = await runStream(spec, {
          registry,
          onProgress: progress.update,
          onWarning: (m) => progress.note(`stream: ${m}`),
          ...(decodeV2 !== undefined ? { decodeV2 } : {}),
        });
        const s = run.summary;
        progress.note(`stream: ${s.model}@${s.version} consuming ${s.from} (stream ${s.inputStream}, consumer ${s.consumer}) → ${s.to} (stream ${s.outputStream}); rejected → ${s.deadLetter}${spec.stopWhenEmpty ? '; exits when the consumer is empty' : '; Ctrl-C to stop'}`);
        let signalled = false;
        const onSignal = (signal: NodeJS.Signals): void => {
          if (signalled) {
            progress.note(`stream: ${signal} again: closing now; unacked messages are redelivered after the ack wait`);
            void run.abort();
            return;
          }
          signalled = true;
          progress.note(`stream: ${signal}: finishing in-flight batches, then stopping (${signal} again to stop at once)`);
          void run.stop();
        };
        process.on('SIGINT', onSignal);
        process.on('SIGTERM', onSignal);
        let summary: StreamSummary;
        try {
          summary = await run.done;
        } finally {
          process.off('SIGINT', onSignal);
          process.off('SIGTERM', onSignal);
          progress.end();
        }
        if (json) ctx.io.out(JSON.stringify(summary, null, 2) + '\n');
        else ctx.io.out(renderSummary(summary));
      });
    });
}

function renderSummary(s: StreamSummary): string {
  const lines = [
    `scored ${s.rows.toLocaleString('en-US')} rows of ${s.acked.toLocaleString('en-US')} messages with ${s.model}@${s.version} → ${s.to} in ${s.seconds.toFixed(1)} s (${s.messagesPerSecond.toLocaleString('en-US')} msgs/s)`,
    `${s.published.toLocaleString('en-US')} results published (${s.duplicates.toLocaleString('en-US')} dropped by JetStream as duplicates), ${s.rejected.toLocaleString('en-US')} rejected → ${s.deadLetter}`,
  ];
  if (s.failed > 0 || s.publishErrors > 0) lines.push(`${s.failed} model failures and ${s.publishErrors} publish failures were nak'ed to come again`);
  lines.push(`consumer ${s.consumer} on stream ${s.inputStream}: the same command resumes from here`);
  return lines.join('\n') + '\n';
}

/** Progress on stderr: a line redrawn in place on a TTY, else a plain line every 2 s. */
function progressPrinter(ctx: CliContext): { update: (s: StreamStats) => void; note: (line: string) => void; end: () => void } {
  const tty = process.stderr.isTTY === true && ctx.io.env['CI'] === undefined;
  let drawn = false;
  let last = { at: -Infinity, acked: 0 };
  const update = (s: StreamStats): void => {
    const interval = tty ? 1 : 2;
    if (s.seconds - last.at < interval) return;
    const rate = Number.isFinite(last.at) ? (s.acked - last.acked) / (s.seconds - last.at) : s.messagesPerSecond;
    last = { at: s.seconds, acked: s.acked };
    const line = `stream: ${s.acked.toLocaleString('en-US')} msgs, ${Math.round(rate).toLocaleString('en-US')} msgs/s, ${s.inflight} in flight, ${s.rejected} rejected, ${s.failed} failed, ${s.pending === undefined ? '?' : s.pending.toLocaleString('en-US')} pending`;
    if (tty) {
      ctx.io.err(`\r${line}\u001b[K`);
      drawn = true;
    } else {
      ctx.io.err(`${line}\n`);
    }
  };
  const note = (line: string): void => {
    if (drawn) ctx.io.err('\r\u001b[K');
    drawn = false;
    ctx.io.err(`${line}\n`);
  };
  return { update, note, end: () => void (drawn && ctx.io.err('\n')) };
}
