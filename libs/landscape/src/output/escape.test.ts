import { spawnSync } from 'node:child_process';
import { describe, expect, it } from 'vitest';
import { escapeXml } from './escape';

/** Parses XML with Python's expat (a strict, independent XML 1.0 parser); returns the text and attribute it read back. */
function parseWithExpat(document: string): { ok: boolean; text?: string; attribute?: string; error?: string } {
  const script = [
    'import sys, json, xml.dom.minidom',
    'try:',
    '    root = xml.dom.minidom.parseString(sys.stdin.buffer.read()).documentElement',
    '    print(json.dumps({"ok": True, "text": root.firstChild.data, "attribute": root.getAttribute("label")}))',
    'except Exception as error:',
    '    print(json.dumps({"ok": False, "error": str(error)}))',
  ].join('\n');
  const run = spawnSync('python3', ['-c', script], { input: Buffer.from(document, 'utf8') });
  return JSON.parse(run.stdout.toString()) as ReturnType<typeof parseWithExpat>;
}

describe('escapeXml', () => {
  const hostile = 'a\u0001b\u0000c\u001f<tag attr="x">&amp;\'q\' </text>\uFFFE\uD800 ok\t\n😀';
  const svg = (text: string): string => `<svg xmlns="http://www.w3.org/2000/svg" label="${text}">${text}</svg>`;

  it('gives well-formed XML for text with control characters, markup and unpaired surrogates', () => {
    // The unescaped label is what made the hostile run's SVG ill-formed.
    expect(parseWithExpat(svg(hostile)).ok).toBe(false);
    const parsed = parseWithExpat(svg(escapeXml(hostile)));
    expect(parsed.error).toBeUndefined();
    // Markup comes back as the characters written; forbidden characters as U+FFFD; tab, newline and emoji as they are.
    expect(parsed.text).toBe('a\uFFFDb\uFFFDc\uFFFD<tag attr="x">&amp;\'q\' </text>\uFFFD\uFFFD ok\t\n😀');
  });
});
