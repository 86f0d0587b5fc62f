const assert = require('assert');

describe('Mixed suite', () => {
  it('passes', () => {
    assert.strictEqual(1 + 1, 2);
  });
  it('fails with a deep-equal assertion', () => {
    const received = { a: 1, b: [1, 2, 3] }, expected = { a: 1, b: [1, 2, 4] };
    assert.deepStrictEqual(received, expected);
  });

  it('throws a TypeError (runtime error)', () => {
    const obj = null;
    obj.foo;
  });

  it('rejects asynchronously', async () => {
    await Promise.resolve();
    throw new Error('async <boom> & "quotes"');
  });

  it.skip('is skipped', () => {});

  it('logs to console and passes', () => {
    console.log('hello from the console');
  });

  describe('nested describe', () => {
    it('deep pass', () => {
      assert.ok(true);
    });

    it('deep fail', () => {
      assert.ok(false, 'deep failure message');
    });
  });
});

describe('Hook failure', () => {
  beforeEach(() => {
    throw new Error('beforeEach hook exploded');
  });
  it('never really runs because the hook fails', () => {});
  it('second test behind the failing hook', () => {});
});

describe('Another suite', () => {
  it('passes too', () => {});
  it.skip('skipped too', () => {});
});
