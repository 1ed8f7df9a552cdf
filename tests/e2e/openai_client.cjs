// The official `openai` npm client against corral: chat, streaming chat, and an unknown model.
// Usage: node openai_client.cjs BASE_URL MODEL   (NODE_PATH points at the installed package)
const OpenAI = require('openai');

const [baseURL, model] = process.argv.slice(2);
const client = new OpenAI({baseURL, apiKey: 'not-needed', maxRetries: 0, timeout: 60000});
const messages = [{role: 'user', content: 'hi'}];

(async () => {
  const chat = await client.chat.completions.create({model, messages, max_tokens: 4});
  if (!chat.choices || !chat.choices[0].message) throw new Error('no message in ' + JSON.stringify(chat));
  console.log('chat ok', chat.usage.completion_tokens);

  // Greedy: the tiny model's random weights can sample an end or a lone byte first, which streams no text.
  const stream = await client.chat.completions.create({model, messages, max_tokens: 8, stream: true, temperature: 0, seed: 1});
  let chunks = 0;
  for await (const chunk of stream) {
    if (chunk.choices && chunk.choices[0] && chunk.choices[0].delta && chunk.choices[0].delta.content) chunks++;
  }
  if (chunks === 0) throw new Error('no streamed content');
  console.log('stream ok', chunks);

  try {
    await client.chat.completions.create({model: 'no-such-model', messages});
    throw new Error('expected a 404');
  } catch (e) {
    if (e.status !== 404) throw e;
    console.log('unknown model 404', e.code);
  }
})().catch((e) => {
  console.error(e);
  process.exit(1);
});
