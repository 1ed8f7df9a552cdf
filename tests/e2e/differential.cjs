// The same requests, route by route, to a llama-server directly and through corral (serving that
// model with the same command line, `cors_origins: ["*"]`), with real clients: Node's http, the
// openai and @anthropic-ai/sdk packages, and a raw socket. Status, framing, the headers that matter
// and normalised bodies (ids, timestamps and timings removed) must match; every difference that
// remains is listed in INTENDED with its reason. Exits 1 on any other difference.
// Usage: node differential.cjs DIRECT_URL CORRAL_URL MODEL   (NODE_PATH points at the npm packages)
'use strict';
const http = require('http');
const net = require('net');
const {execFileSync} = require('child_process');
const OpenAI = require('openai');
const Anthropic = require('@anthropic-ai/sdk');

const [directUrl, corralUrl, model] = process.argv.slice(2);
const ORIGIN = 'http://localhost:5173';

// Differences corral makes on purpose, by case name.
const INTENDED = {
  'GET /v1/models': 'corral lists every configured model under its own ids, aliases and status; ' +
      'the server\'s facts (meta, architecture, ...) are merged into its entry (checked separately below)',
  'HEAD /v1/models': 'corral\'s own model list (see GET /v1/models): another Content-Length',
  'OPTIONS preflight': 'corral answers preflights itself: 204 with the methods it serves and the headers asked for, ' +
      'no Allow-Credentials (keys travel in headers, not cookies)',
  'GET /nope': 'an unknown route is corral\'s 404 (an OpenAI error object naming the route)',
  'POST /tokenize invalid JSON': 'corral must read `model` to route, so it answers 400 invalid_json itself',
};

// Keys whose values differ between any two runs or servers.
const VOLATILE = new Set(['id', 'created', 'timings', 'id_task', 'id_slot', 't_start', 'prompt_ms', 'predicted_ms',
                          'system_fingerprint', 'completion_id', 'response_id', 'output_id', 'item_id', 'call_id',
                          'media_marker']);  // random per server start

function normalise(value) {
  if (Array.isArray(value)) return value.map(normalise);
  if (value && typeof value === 'object') {
    const out = {};
    for (const k of Object.keys(value).sort()) {
      if (VOLATILE.has(k) || /_at$/.test(k) /* Unix times: created_at, completed_at */ || /^t_/.test(k) || /_ms$/.test(k) || /per_second|per_token/.test(k)) continue;
      out[k] = normalise(value[k]);
    }
    return out;
  }
  return value;
}

function parseBody(text, contentType) {
  if (/event-stream/.test(contentType || '')) {
    return text.split('\n\n').filter((e) => e.trim()).map((e) => {
      const data = e.split('\n').filter((l) => l.startsWith('data: ')).map((l) => l.slice(6)).join('\n');
      try { return normalise(JSON.parse(data)); } catch { return data; }
    });
  }
  try { return normalise(JSON.parse(text)); } catch { return text; }
}

const agent = new http.Agent({keepAlive: true, maxSockets: 1});

// One HTTP exchange; what is compared: status, content type, framing, CORS and the body.
function exchange(base, method, path, {body, headers = {}, raw = false} = {}) {
  return new Promise((resolve, reject) => {
    const url = new URL(path, base);
    const req = http.request(url, {method, agent, headers: {Origin: ORIGIN, ...headers}}, (res) => {
      const chunks = [];
      res.on('data', (c) => chunks.push(c));
      res.on('end', () => {
        const text = Buffer.concat(chunks).toString('utf8');
        resolve({
          status: res.statusCode,
          contentType: res.headers['content-type'] || null,
          framing: res.headers['transfer-encoding'] === 'chunked' ? 'chunked' : (res.headers['content-length'] !== undefined ? 'length' : 'close'),
          allowOrigin: res.headers['access-control-allow-origin'] || null,
          bodyLength: method === 'HEAD' ? Number(res.headers['content-length'] || -1) : undefined,
          body: method === 'HEAD' ? (text.length ? 'BODY ON HEAD' : '') : raw ? JSON.parse(text) : parseBody(text, res.headers['content-type']),
        });
      });
      res.on('error', reject);
    });
    req.on('error', reject);
    if (body !== undefined) req.end(typeof body === 'string' ? body : JSON.stringify(body));
    else req.end();
  });
}

// Responses to pipelined requests on one raw connection, as status lines in order.
function pipelined(base) {
  return new Promise((resolve, reject) => {
    const url = new URL(base);
    const socket = net.connect(Number(url.port), url.hostname);
    const body = JSON.stringify({model, content: 'pipelined'});
    const post = `POST /tokenize HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: ${body.length}\r\n\r\n${body}`;
    socket.write(post + 'GET /health HTTP/1.1\r\nHost: x\r\n\r\n' + post.replace('HTTP/1.1\r\n', 'HTTP/1.1\r\nConnection: close\r\n'));
    let text = '';
    socket.on('data', (d) => { text += d.toString('latin1'); });
    socket.on('end', () => resolve(text.match(/^HTTP\/1\.1 \d+/gm)));
    socket.on('error', reject);
    setTimeout(() => { socket.destroy(); resolve(text.match(/^HTTP\/1\.1 \d+/gm)); }, 20000).unref();
  });
}

// curl as a user runs it: status line and normalised body (-i prints the header; the status line
// and content type are compared, the body after the blank line).
function curl(base, args, input) {
  const out = execFileSync('curl', ['-sS', '-i', '--max-time', '60', ...args.map((a) => a.replace('BASE', base))],
                           {encoding: 'utf8', maxBuffer: 64 << 20, input});
  const [head, ...body] = out.split('\r\n\r\n').filter((part, i, all) => !(i < all.length - 1 && /^HTTP\/1\.1 100/.test(part)));
  const lines = head.split('\r\n');
  const type = lines.find((l) => /^content-type:/i.test(l));
  return {status: lines[0], contentType: type ? type.split(':')[1].trim() : null, body: parseBody(body.join('\r\n\r\n'), type)};
}

async function sdkCall(fn) {
  try {
    return {ok: normalise(JSON.parse(JSON.stringify(await fn())))};
  } catch (e) {
    return {status: e.status, error: e.error ? normalise(e.error) : String(e.message)};
  }
}

async function streamText(iterable) {
  const events = [];
  for await (const event of iterable) events.push(normalise(JSON.parse(JSON.stringify(event))));
  return events;
}

const greedy = {temperature: 0, seed: 1};
const messages = [{role: 'user', content: 'hi there'}];

// Each case runs against one base URL; its result is compared between direct and corral.
const cases = [
  ['GET /health', (b) => exchange(b, 'GET', '/health')],
  ['GET /v1/health', (b) => exchange(b, 'GET', '/v1/health')],
  ['HEAD /health', (b) => exchange(b, 'HEAD', '/health')],
  ['GET /v1/models', (b) => exchange(b, 'GET', '/v1/models')],
  ['HEAD /v1/models', (b) => exchange(b, 'HEAD', '/v1/models')],
  ['GET /props', (b) => exchange(b, 'GET', '/props')],
  ['GET /props?model=', (b) => exchange(b, 'GET', `/props?model=${model}`)],
  ['HEAD /props', (b) => exchange(b, 'HEAD', `/props?model=${model}`)],
  ['GET /slots', (b) => exchange(b, 'GET', `/slots?model=${model}`)],
  ['GET /lora-adapters', (b) => exchange(b, 'GET', `/lora-adapters?model=${model}`)],
  ['GET /', (b) => exchange(b, 'GET', '/')],
  ['GET /nope', (b) => exchange(b, 'GET', '/nope')],
  ['OPTIONS preflight', (b) => exchange(b, 'OPTIONS', '/v1/chat/completions',
                                        {headers: {'Access-Control-Request-Method': 'POST', 'Access-Control-Request-Headers': 'authorization'}})],
  ['POST /tokenize', (b) => exchange(b, 'POST', '/tokenize', {body: {model, content: 'hello world', with_pieces: true}})],
  ['POST /tokenize invalid JSON', (b) => exchange(b, 'POST', '/tokenize', {body: '{"model": "' + model + '", '})],
  ['POST /detokenize', (b) => exchange(b, 'POST', '/detokenize', {body: {model, tokens: [280, 281, 282]}})],
  ['POST /apply-template', (b) => exchange(b, 'POST', '/apply-template', {body: {model, messages}})],
  ['POST /completion', (b) => exchange(b, 'POST', '/completion', {body: {model, prompt: 'abc', n_predict: 4, ...greedy}})],
  ['POST /completion stream', (b) => exchange(b, 'POST', '/completion', {body: {model, prompt: 'abc', n_predict: 4, stream: true, ...greedy}})],
  ['POST /v1/completions', (b) => exchange(b, 'POST', '/v1/completions', {body: {model, prompt: 'abc', max_tokens: 4, ...greedy}})],
  ['POST /v1/chat/completions stream', (b) => exchange(b, 'POST', '/v1/chat/completions',
                                                       {body: {model, messages, max_tokens: 4, stream: true, ...greedy}})],
  ['POST /v1/chat/completions bad request', (b) => exchange(b, 'POST', '/v1/chat/completions', {body: {model, messages: 'not a list'}})],
  ['POST /infill', (b) => exchange(b, 'POST', '/infill', {body: {model, input_prefix: 'a', input_suffix: 'b', n_predict: 2}})],
  ['POST /v1/rerank', (b) => exchange(b, 'POST', '/v1/rerank', {body: {model, query: 'q', documents: ['a', 'b']}})],
  ['POST /api/show', (b) => exchange(b, 'POST', '/api/show', {body: {model}})],
  ['POST /v1/messages/count_tokens', (b) => exchange(b, 'POST', '/v1/messages/count_tokens', {body: {model, messages}})],
  ['POST with Expect: 100-continue (2 MiB)', (b) => exchange(b, 'POST', '/tokenize',
                                                             {body: {model, content: 'z'.repeat(2 << 20)}, headers: {Expect: '100-continue'}})
                                                       .then((r) => ({...r, body: {tokens: r.body.tokens && r.body.tokens.length}}))],
  ['pipelined requests', (b) => pipelined(b)],
  ['curl chat', (b) => curl(b, ['BASE/v1/chat/completions', '-H', 'Content-Type: application/json', '-d',
                                JSON.stringify({model, messages, max_tokens: 4, ...greedy})])],
  ['curl stream', (b) => curl(b, ['-N', 'BASE/v1/chat/completions', '-d', JSON.stringify({model, messages, max_tokens: 4, stream: true, ...greedy})])],
  ['curl --head', (b) => curl(b, ['--head', `BASE/props?model=${model}`])],
  ['curl 2 MiB body (Expect: 100-continue)', (b) => {
    const r = curl(b, ['BASE/tokenize', '-H', 'Content-Type: application/json', '--data-binary', '@-'],
                   JSON.stringify({model, content: 'y'.repeat(2 << 20)}));
    return {...r, body: r.body.tokens ? r.body.tokens.length : r.body};
  }],
  ['openai chat.completions', (b) => sdkCall(() => openai(b).chat.completions.create({model, messages, max_tokens: 6, ...greedy}))],
  ['openai chat.completions stream', (b) => sdkCall(async () => streamText(
                                                        await openai(b).chat.completions.create({model, messages, max_tokens: 6, stream: true, ...greedy})))],
  ['openai completions', (b) => sdkCall(() => openai(b).completions.create({model, prompt: 'abc', max_tokens: 4, ...greedy}))],
  ['openai embeddings', (b) => sdkCall(() => openai(b).embeddings.create({model, input: 'abc'}))],
  ['openai responses', (b) => sdkCall(() => openai(b).responses.create({model, input: 'hi', max_output_tokens: 4, temperature: 0}))],
  ['openai models.retrieve', (b) => sdkCall(() => openai(b).models.retrieve(model))],
  ['openai unknown model', (b) => sdkCall(() => openai(b).models.retrieve('no-such-model'))],
  ['anthropic messages', (b) => sdkCall(() => anthropic(b).messages.create({model, max_tokens: 6, messages, temperature: 0}))],
  ['anthropic messages stream', (b) => sdkCall(async () => streamText(
                                                   anthropic(b).messages.stream({model, max_tokens: 6, messages, temperature: 0})))],
  ['anthropic count tokens', (b) => sdkCall(() => anthropic(b).messages.countTokens({model, messages}))],
];

// The openai client's /models/{id} is not a llama-server route: both answer 404, in their words.
INTENDED['openai unknown model'] = 'corral serves GET /v1/models/{id} (OpenAI\'s models.retrieve), which llama-server lacks: ' +
    'both answer 404 here, corral with model_not_found';
INTENDED['openai models.retrieve'] = 'corral serves GET /v1/models/{id} (OpenAI\'s models.retrieve); llama-server answers 404';

function openai(base) {
  return new OpenAI({baseURL: base + '/v1', apiKey: 'unused', maxRetries: 0, timeout: 60000});
}
function anthropic(base) {
  return new Anthropic({baseURL: base, apiKey: 'unused', maxRetries: 0, timeout: 60000});
}

function same(a, b) {
  return JSON.stringify(a) === JSON.stringify(b);
}

// Where two results differ, as JSON paths with both values.
function differences(a, b, path = '', out = []) {
  if (same(a, b)) return out;
  if (a && b && typeof a === 'object' && typeof b === 'object') {
    for (const k of new Set([...Object.keys(a), ...Object.keys(b)])) differences(a[k], b[k], `${path}.${k}`, out);
  } else {
    out.push(`${path || '.'}: direct ${JSON.stringify(a)} corral ${JSON.stringify(b)}`.slice(0, 400));
  }
  return out;
}

(async () => {
  let unexplained = 0;
  for (const [name, run] of cases) {
    const direct = await run(directUrl);
    const corral = await run(corralUrl);
    if (same(direct, corral)) {
      console.log(`same      ${name}`);
    } else if (INTENDED[name]) {
      console.log(`intended  ${name}: ${INTENDED[name]}`);
    } else {
      unexplained++;
      console.log(`DIFFERENT ${name}\n  ${differences(direct, corral).slice(0, 10).join('\n  ')}`);
    }
  }
  // What corral's model list must keep of the server's own entry.
  const mine = (await exchange(corralUrl, 'GET', '/v1/models', {raw: true})).body.data.find((m) => m.id === model);
  const theirs = (await exchange(directUrl, 'GET', '/v1/models', {raw: true})).body.data[0];
  for (const key of ['meta', 'architecture', 'tags']) {
    if (!same(mine[key], theirs[key])) {
      unexplained++;
      console.log(`DIFFERENT /v1/models "${key}": direct ${JSON.stringify(theirs[key])} corral ${JSON.stringify(mine[key])}`);
    }
  }
  console.log(unexplained === 0 ? 'differential: no unexplained difference' : `differential: ${unexplained} unexplained differences`);
  process.exit(unexplained === 0 ? 0 : 1);
})().catch((e) => {
  console.error(e);
  process.exit(2);
});
