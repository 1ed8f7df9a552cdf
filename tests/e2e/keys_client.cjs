// The official `openai` npm client with a scoped key: it lists only the key's models, chats with
// one, is told 404 for a model outside its scope (as if absent) and 401 for a wrong key.
// Usage: node keys_client.cjs BASE_URL KEY VISIBLE_MODELS(comma-separated) HIDDEN_MODEL
// (NODE_PATH points at the installed package; NODE_EXTRA_CA_CERTS trusts a test certificate).
const OpenAI = require('openai');

const [baseURL, apiKey, visible, hidden] = process.argv.slice(2);
const client = new OpenAI({baseURL, apiKey, maxRetries: 0, timeout: 60000});
const messages = [{role: 'user', content: 'hi'}];

(async () => {
  const ids = [];
  for await (const m of client.models.list()) ids.push(m.id);
  if (ids.sort().join(',') !== visible.split(',').sort().join(',')) throw new Error('models.list: ' + ids.join(','));
  console.log('models', ids.join(','));

  const model = visible.split(',')[0];
  const chat = await client.chat.completions.create({model, messages, max_tokens: 4});
  if (!chat.choices || !chat.choices[0].message) throw new Error('no message in ' + JSON.stringify(chat));
  console.log('chat ok');

  const stream = await client.chat.completions.create({model, messages, max_tokens: 4, stream: true});
  let chunks = 0;
  for await (const chunk of stream) chunks += chunk.choices && chunk.choices.length ? 1 : 0;
  if (chunks === 0) throw new Error('no streamed chunk');
  console.log('stream ok');

  for (const name of [hidden, 'no-such-model']) {
    try {
      await client.chat.completions.create({model: name, messages});
      throw new Error('expected a 404 for ' + name);
    } catch (e) {
      if (!(e instanceof OpenAI.NotFoundError) || e.code !== 'model_not_found') throw e;
    }
    try {
      await client.models.retrieve(name);
      throw new Error('expected a 404 from models.retrieve ' + name);
    } catch (e) {
      if (!(e instanceof OpenAI.NotFoundError)) throw e;
    }
  }
  console.log('hidden 404');

  try {
    await new OpenAI({baseURL, apiKey: apiKey + 'x', maxRetries: 0}).models.list();
    throw new Error('expected a 401');
  } catch (e) {
    if (!(e instanceof OpenAI.AuthenticationError)) throw e;
  }
  console.log('wrong key 401');
})().catch((e) => {
  console.error(e);
  process.exit(1);
});
