const core = await import('./libs/landscape/dist/index.js');
const tf = await import('@tensorflow/tfjs-core');
await core.selectBackend('wasm');
for (const rows of [1024, 976, 1000, 2000]) {
  const a = tf.randomNormal([rows, 784]), b = tf.randomNormal([784, 128]), bias = tf.randomNormal([128]);
  const bt = tf.transpose(b);
  const time = (f) => { f().dispose(); const ts = []; for (let i = 0; i < 7; i++) { const t = performance.now(); const y = f(); y.dataSync(); y.dispose(); ts.push(performance.now() - t); } ts.sort((x, y) => x - y); return ts[3].toFixed(2); };
  console.log(rows, 'plain', time(() => tf.matMul(a, b)), 'fused', time(() => tf.fused.matMul({ a, b, bias })), 'plain+add', time(() => tf.tidy(() => tf.add(tf.matMul(a, b), bias))), 'transB', time(() => tf.matMul(a, bt, false, true)));
}
